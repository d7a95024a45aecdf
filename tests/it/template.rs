//! Test databases made from one migrated template per test run: the template is created
//! and migrated once per test process, and each test's database gets the template's
//! tables (`SHOW CREATE TABLE`, foreign keys included) and its seed rows, which is much
//! cheaper than running every migration per test.

use std::sync::OnceLock;

use consentry::config::DatabaseUrl;
use consentry::db;
use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, RunQueryDsl};

use crate::common::server_url;

struct Template {
    name: String,
    /// Every table's `CREATE TABLE` statement, in the template's order.
    tables: Vec<String>,
    /// Tables that hold rows after migrating (settings, migration versions).
    seeded: Vec<String>,
}

#[derive(diesel::QueryableByName)]
struct CreateTable {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "Create Table")]
    statement: String,
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Rows {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn connect(url: &DatabaseUrl) -> Result<MysqlConnection, String> {
    MysqlConnection::establish(url.full()).map_err(|e| e.to_string())
}

/// Drops templates left by test processes that have ended.
fn drop_stale_templates(server: &mut MysqlConnection) {
    let stale: Vec<Name> = diesel::sql_query(
        "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE 'consentry\\_test\\_tpl\\_%'",
    )
    .load(server)
    .unwrap_or_default();
    for db in stale {
        let pid = db
            .name
            .rsplit('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = server.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", db.name));
        }
    }
}

fn build() -> Result<Template, String> {
    let name = format!("consentry_test_tpl_{}", std::process::id());
    let url = server_url()
        .with_database(&name)
        .map_err(|e| e.to_string())?;
    let mut server = MysqlConnection::establish(&url.server_only()).map_err(|e| e.to_string())?;
    drop_stale_templates(&mut server);
    server
        .batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`"))
        .map_err(|e| e.to_string())?;
    db::prepare(&url).map_err(|e| e.to_string())?;
    let mut conn = connect(&url)?;
    let names: Vec<Name> = diesel::sql_query(
        "SELECT TABLE_NAME AS name FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    )
    .load(&mut conn)
    .map_err(|e| e.to_string())?;
    let mut tables = Vec::new();
    let mut seeded = Vec::new();
    for table in names {
        let create: CreateTable = diesel::sql_query(format!("SHOW CREATE TABLE `{}`", table.name))
            .get_result(&mut conn)
            .map_err(|e| e.to_string())?;
        tables.push(create.statement);
        let rows: Rows = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM `{}`", table.name))
            .get_result(&mut conn)
            .map_err(|e| e.to_string())?;
        if rows.n > 0 {
            seeded.push(table.name);
        }
    }
    Ok(Template {
        name,
        tables,
        seeded,
    })
}

/// Creates the database of `url` as a copy of the migrated template.
pub fn create_from_template(url: &DatabaseUrl) -> Result<(), String> {
    static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();
    let template = TEMPLATE.get_or_init(build).as_ref().map_err(Clone::clone)?;
    db::create_database_if_missing(url).map_err(|e| e.to_string())?;
    let mut conn = connect(url)?;
    let mut script = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
    for create in &template.tables {
        script.push_str(create);
        script.push_str(";\n");
    }
    for table in &template.seeded {
        script.push_str(&format!(
            "INSERT INTO `{table}` SELECT * FROM `{}`.`{table}`;\n",
            template.name
        ));
    }
    script.push_str("SET FOREIGN_KEY_CHECKS = 1;");
    conn.batch_execute(&script).map_err(|e| e.to_string())
}
