//! What a client holds and how much it was issued: live token and consent counts, and
//! access tokens issued per day. Daily counts of purged tokens live in
//! `oauth_client_daily_tokens`; tokens not yet purged are counted from their own rows.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bigint, Date, Datetime};

use crate::db::DbError;
use crate::db::schema::{
    oauth_access_tokens as access, oauth_client_daily_tokens as daily, oauth_consents as consents,
    oauth_grants as grants, oauth_refresh_tokens as refresh,
};

/// Live tokens and consents of one client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    pub access_tokens: i64,
    pub refresh_tokens: i64,
    pub consents: i64,
}

pub fn holdings(
    conn: &mut MysqlConnection,
    client_id: i64,
    now: NaiveDateTime,
) -> Result<Holdings, DbError> {
    let access_tokens = access::table
        .inner_join(grants::table)
        .filter(grants::client_id.eq(client_id))
        .filter(grants::revoked_at.is_null())
        .filter(access::revoked_at.is_null())
        .filter(access::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    let refresh_tokens = refresh::table
        .inner_join(grants::table)
        .filter(grants::client_id.eq(client_id))
        .filter(grants::revoked_at.is_null())
        .filter(refresh::rotated_at.is_null())
        .filter(refresh::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    let consents = consents::table
        .filter(consents::client_id.eq(client_id))
        .count()
        .get_result(conn)?;
    Ok(Holdings {
        access_tokens,
        refresh_tokens,
        consents,
    })
}

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    issued: i64,
}

/// Access tokens issued to the client per day since `since` (days without any are absent).
pub fn issued_per_day(
    conn: &mut MysqlConnection,
    client_id: i64,
    since: NaiveDate,
) -> Result<Vec<(NaiveDate, i64)>, DbError> {
    let mut days: std::collections::BTreeMap<NaiveDate, i64> = daily::table
        .filter(daily::client_id.eq(client_id))
        .filter(daily::day.ge(since))
        .select((daily::day, daily::issued))
        .load::<(NaiveDate, i32)>(conn)?
        .into_iter()
        .map(|(d, n)| (d, i64::from(n)))
        .collect();
    let live: Vec<DayCount> = diesel::sql_query(
        "SELECT DATE(t.created_at) AS day, COUNT(*) AS issued \
         FROM oauth_access_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
         WHERE g.client_id = ? AND t.created_at >= ? GROUP BY DATE(t.created_at)",
    )
    .bind::<Bigint, _>(client_id)
    .bind::<Datetime, _>(since.and_hms_opt(0, 0, 0).unwrap_or_default())
    .load(conn)?;
    for row in live {
        *days.entry(row.day).or_default() += row.issued;
    }
    Ok(days.into_iter().collect())
}

#[derive(QueryableByName)]
struct ClientDayCount {
    #[diesel(sql_type = BigInt)]
    client_id: i64,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    issued: i64,
}

/// Adds the access tokens that expired by `cutoff` to the daily counts; the caller deletes
/// those rows in the same transaction.
pub fn roll_up_expired(conn: &mut MysqlConnection, cutoff: NaiveDateTime) -> Result<(), DbError> {
    let rows: Vec<ClientDayCount> = diesel::sql_query(
        "SELECT g.client_id AS client_id, DATE(t.created_at) AS day, COUNT(*) AS issued \
         FROM oauth_access_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
         WHERE t.expires_at <= ? GROUP BY g.client_id, DATE(t.created_at)",
    )
    .bind::<Datetime, _>(cutoff)
    .load(conn)?;
    for row in rows {
        let n = i32::try_from(row.issued).unwrap_or(i32::MAX);
        diesel::insert_into(daily::table)
            .values((
                daily::client_id.eq(row.client_id),
                daily::day.eq(row.day),
                daily::issued.eq(n),
            ))
            .on_conflict(diesel::dsl::DuplicatedKeys)
            .do_update()
            .set(daily::issued.eq(daily::issued + n))
            .execute(conn)?;
    }
    Ok(())
}
