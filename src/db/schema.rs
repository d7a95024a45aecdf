// @generated-style table definitions matching migrations/ (regenerate with `diesel print-schema`).

diesel::table! {
    users (id) {
        id -> Bigint,
        #[max_length = 100]
        login -> Varchar,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 255]
        password_hash -> Varchar,
        #[max_length = 16]
        role -> Varchar,
        created_at -> Datetime,
        last_login_at -> Nullable<Datetime>,
    }
}

diesel::table! {
    oauth_settings (id) {
        id -> Tinyint,
        access_token_lifetime -> Integer,
        refresh_token_lifetime -> Integer,
        auth_code_lifetime -> Integer,
        auth_code_enabled -> Bool,
        client_credentials_enabled -> Bool,
        refresh_tokens_enabled -> Bool,
        #[max_length = 255]
        allowed_scopes -> Varchar,
        updated_at -> Nullable<Datetime>,
        #[max_length = 100]
        updated_by -> Nullable<Varchar>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Bigint,
        occurred_at -> Datetime,
        #[max_length = 100]
        actor -> Varchar,
        #[max_length = 64]
        action -> Varchar,
        #[max_length = 32]
        target_type -> Nullable<Varchar>,
        #[max_length = 190]
        target_id -> Nullable<Varchar>,
        details -> Json,
        #[max_length = 45]
        ip -> Nullable<Varchar>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Bigint,
        #[max_length = 100]
        login -> Varchar,
        #[max_length = 45]
        ip -> Varchar,
        occurred_at -> Datetime,
    }
}

diesel::table! {
    revoked_sessions (sid) {
        #[max_length = 43]
        sid -> Char,
        expires_at -> Datetime,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    oauth_settings,
    audit_events,
    login_failures,
    revoked_sessions
);

diesel::table! {
    server_secrets (name) {
        #[max_length = 64]
        name -> Varchar,
        #[max_length = 64]
        value -> Varbinary,
        created_at -> Datetime,
    }
}

diesel::table! {
    oauth_clients (id) {
        id -> Bigint,
        #[max_length = 32]
        client_id -> Char,
        #[max_length = 64]
        name -> Varchar,
        #[max_length = 255]
        description -> Varchar,
        #[max_length = 16]
        client_type -> Varchar,
        #[max_length = 128]
        grant_types -> Varchar,
        #[max_length = 255]
        scopes -> Varchar,
        redirect_uris -> Json,
        trusted -> Bool,
        require_pkce -> Bool,
        #[max_length = 2048]
        homepage_url -> Nullable<Varchar>,
        #[max_length = 2048]
        icon_url -> Nullable<Varchar>,
        #[max_length = 8]
        status -> Varchar,
        owner_id -> Nullable<Bigint>,
        #[max_length = 32]
        secret_hash -> Nullable<Binary>,
        created_at -> Datetime,
        updated_at -> Datetime,
        last_used_at -> Nullable<Datetime>,
    }
}

diesel::joinable!(oauth_clients -> users (owner_id));
diesel::allow_tables_to_appear_in_same_query!(oauth_clients, users, server_secrets);
