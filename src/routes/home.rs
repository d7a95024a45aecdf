//! `/`: the console's start page, with the entries the user's role may open.

use actix_web::{HttpResponse, get};
use askama::Template;

use crate::auth::session::SessionUser;
use crate::error::AppError;
use crate::routes::page::{Layout, render};

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
