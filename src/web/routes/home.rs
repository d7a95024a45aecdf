//! `/`: the console's start page, with the entries the user's role may open.

use actix_web::{HttpResponse, get};
use askama::Template;

use crate::web::error::AppError;
use crate::web::routes::page::{Layout, render};
use crate::web::session::SessionUser;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    user: SessionUser,
}

#[get("/")]
pub async fn home(user: SessionUser) -> Result<HttpResponse, AppError> {
    render(&HomePage {
        layout: Layout::for_user(&user, "home"),
        user,
    })
}
