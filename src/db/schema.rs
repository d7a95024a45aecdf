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
        session_epoch -> Integer,
        deactivated_at -> Nullable<Datetime>,
        #[max_length = 36]
        subject -> Char,
        #[max_length = 64]
        totp_secret -> Nullable<Varbinary>,
        totp_enabled_at -> Nullable<Datetime>,
        totp_last_step -> Nullable<Bigint>,
    }
}

diesel::table! {
    user_recovery_codes (id) {
        id -> Bigint,
        user_id -> Bigint,
        #[max_length = 32]
        code_hash -> Binary,
        created_at -> Datetime,
        used_at -> Nullable<Datetime>,
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
        registration_enabled -> Bool,
        #[max_length = 16]
        registration_policy -> Varchar,
        audit_retention_days -> Integer,
        #[max_length = 255]
        allowed_app_schemes -> Varchar,
        #[max_length = 10]
        signing_alg -> Varchar,
        require_2fa_superusers -> Bool,
        require_2fa_support -> Bool,
        device_flow_enabled -> Bool,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Bigint,
        occurred_at -> Datetime,
        #[max_length = 160]
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
        repeat_count -> Integer,
        last_at -> Nullable<Datetime>,
        #[max_length = 32]
        aggregate_key -> Nullable<Binary>,
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
        self_registered -> Bool,
        #[max_length = 45]
        registered_from -> Nullable<Varchar>,
        may_introspect_any -> Bool,
        post_logout_redirect_uris -> Nullable<Json>,
        access_token_lifetime -> Nullable<Integer>,
        refresh_token_lifetime -> Nullable<Integer>,
        #[max_length = 32]
        previous_secret_hash -> Nullable<Binary>,
        previous_secret_until -> Nullable<Datetime>,
        previous_secret_uses -> Bigint,
        secret_rotated_at -> Nullable<Datetime>,
        secret_expires_at -> Nullable<Datetime>,
        #[max_length = 1200]
        site_ids -> Nullable<Varchar>,
        #[max_length = 2048]
        privacy_url -> Nullable<Varchar>,
        #[max_length = 2048]
        terms_url -> Nullable<Varchar>,
        #[max_length = 16]
        icon_type -> Nullable<Varchar>,
        icon_updated_at -> Nullable<Datetime>,
    }
}

diesel::table! {
    oauth_client_icons (client_id) {
        client_id -> Bigint,
        #[max_length = 16]
        content_type -> Varchar,
        data -> Blob,
        updated_at -> Datetime,
    }
}

diesel::table! {
    change_log (id) {
        id -> Bigint,
        #[max_length = 32]
        kind -> Varchar,
        #[max_length = 255]
        subject -> Varchar,
        created_at -> Datetime,
    }
}

diesel::table! {
    throttle_buckets (bucket_hash) {
        #[max_length = 32]
        bucket_hash -> Binary,
        #[max_length = 32]
        kind -> Varchar,
        hits -> Integer,
        window_start -> Datetime,
        blocked_until -> Nullable<Datetime>,
        expires_at -> Datetime,
    }
}

diesel::table! {
    leases (name) {
        #[max_length = 64]
        name -> Varchar,
        #[max_length = 32]
        holder -> Nullable<Char>,
        expires_at -> Datetime,
    }
}

diesel::joinable!(oauth_clients -> users (owner_id));

diesel::table! {
    signing_keys (id) {
        id -> Bigint,
        #[max_length = 64]
        kid -> Varchar,
        #[max_length = 4096]
        private_der -> Varbinary,
        #[max_length = 1024]
        n -> Varchar,
        #[max_length = 16]
        e -> Varchar,
        created_at -> Datetime,
        retired_at -> Nullable<Datetime>,
        publish_until -> Nullable<Datetime>,
        active_from -> Nullable<Datetime>,
        #[max_length = 10]
        alg -> Varchar,
    }
}

diesel::table! {
    oauth_authorization_requests (handle_hash) {
        #[max_length = 32]
        handle_hash -> Binary,
        user_id -> Bigint,
        client_id -> Bigint,
        #[max_length = 2048]
        redirect_uri -> Varchar,
        redirect_uri_given -> Bool,
        #[max_length = 255]
        scopes -> Varchar,
        #[max_length = 1024]
        state -> Nullable<Varchar>,
        #[max_length = 43]
        code_challenge -> Nullable<Char>,
        expires_at -> Datetime,
        #[max_length = 255]
        nonce -> Nullable<Varchar>,
        #[max_length = 64]
        acr -> Nullable<Varchar>,
        device_code_id -> Nullable<Bigint>,
    }
}

diesel::table! {
    oauth_device_codes (id) {
        id -> Bigint,
        #[max_length = 32]
        device_code_hash -> Binary,
        #[max_length = 32]
        user_code_hash -> Binary,
        client_id -> Bigint,
        #[max_length = 255]
        scopes -> Varchar,
        #[max_length = 10]
        status -> Varchar,
        user_id -> Nullable<Bigint>,
        code_id -> Nullable<Bigint>,
        poll_interval -> Integer,
        last_polled_at -> Nullable<Datetime>,
        created_at -> Datetime,
        expires_at -> Datetime,
    }
}

diesel::table! {
    oauth_authorization_codes (id) {
        id -> Bigint,
        #[max_length = 32]
        code_hash -> Binary,
        client_id -> Bigint,
        user_id -> Bigint,
        #[max_length = 2048]
        redirect_uri -> Varchar,
        redirect_uri_given -> Bool,
        #[max_length = 63]
        scope -> Varchar,
        #[max_length = 43]
        code_challenge -> Nullable<Char>,
        created_at -> Datetime,
        expires_at -> Datetime,
        used_at -> Nullable<Datetime>,
        #[max_length = 22]
        used_by -> Nullable<Char>,
        #[max_length = 255]
        nonce -> Nullable<Varchar>,
        auth_time -> Nullable<Datetime>,
        #[max_length = 16]
        amr -> Nullable<Varchar>,
        #[max_length = 64]
        acr -> Nullable<Varchar>,
        #[max_length = 1200]
        site_ids -> Nullable<Varchar>,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Bigint,
        client_id -> Bigint,
        user_id -> Nullable<Bigint>,
        code_id -> Nullable<Bigint>,
        #[max_length = 32]
        grant_type -> Varchar,
        #[max_length = 63]
        scope -> Varchar,
        created_at -> Datetime,
        expires_at -> Datetime,
        revoked_at -> Nullable<Datetime>,
        #[max_length = 22]
        first_jti -> Nullable<Char>,
        auth_time -> Nullable<Datetime>,
        #[max_length = 16]
        amr -> Nullable<Varchar>,
        #[max_length = 64]
        acr -> Nullable<Varchar>,
        #[max_length = 1200]
        site_ids -> Nullable<Varchar>,
    }
}

diesel::table! {
    oauth_access_tokens (jti) {
        #[max_length = 22]
        jti -> Char,
        grant_id -> Bigint,
        #[max_length = 63]
        scope -> Varchar,
        created_at -> Datetime,
        expires_at -> Datetime,
        revoked_at -> Nullable<Datetime>,
    }
}

diesel::table! {
    oauth_refresh_tokens (id) {
        id -> Bigint,
        #[max_length = 32]
        token_hash -> Binary,
        grant_id -> Bigint,
        #[max_length = 63]
        scope -> Varchar,
        created_at -> Datetime,
        expires_at -> Datetime,
        rotated_at -> Nullable<Datetime>,
        #[max_length = 22]
        rotated_by -> Nullable<Char>,
    }
}

diesel::table! {
    oauth_consents (user_id, client_id) {
        user_id -> Bigint,
        client_id -> Bigint,
        #[max_length = 63]
        scope -> Varchar,
        created_at -> Datetime,
        updated_at -> Datetime,
        #[max_length = 1200]
        site_ids -> Nullable<Varchar>,
    }
}

diesel::table! {
    oauth_client_daily_tokens (client_id, day) {
        client_id -> Bigint,
        day -> Date,
        issued -> Integer,
    }
}

diesel::table! {
    sites (id) {
        id -> Bigint,
        #[max_length = 90]
        name -> Varchar,
        #[max_length = 2048]
        main_url -> Varchar,
        created_at -> Datetime,
    }
}

diesel::table! {
    site_access (user_id, site_id) {
        user_id -> Bigint,
        site_id -> Bigint,
        #[max_length = 8]
        access -> Varchar,
    }
}

diesel::table! {
    annotations (id) {
        id -> Bigint,
        site_id -> Bigint,
        date -> Date,
        #[max_length = 255]
        note -> Varchar,
        #[max_length = 100]
        author -> Varchar,
        created_at -> Datetime,
    }
}

diesel::joinable!(site_access -> sites (site_id));
diesel::joinable!(site_access -> users (user_id));
diesel::joinable!(annotations -> sites (site_id));
diesel::table! {
    oauth_secret_reveals (nonce_hash) {
        #[max_length = 32]
        nonce_hash -> Binary,
        client_id -> Nullable<Bigint>,
        expires_at -> Datetime,
    }
}

diesel::table! {
    oauth_initial_access_tokens (id) {
        id -> Bigint,
        #[max_length = 32]
        token_hash -> Binary,
        #[max_length = 64]
        label -> Varchar,
        #[max_length = 100]
        created_by -> Varchar,
        created_at -> Datetime,
        expires_at -> Datetime,
        uses_left -> Integer,
        uses -> Integer,
        revoked_at -> Nullable<Datetime>,
    }
}

diesel::joinable!(oauth_secret_reveals -> oauth_clients (client_id));
diesel::joinable!(oauth_client_daily_tokens -> oauth_clients (client_id));
diesel::joinable!(oauth_consents -> users (user_id));
diesel::joinable!(oauth_authorization_codes -> oauth_clients (client_id));
diesel::joinable!(oauth_grants -> oauth_clients (client_id));
diesel::joinable!(oauth_access_tokens -> oauth_grants (grant_id));
diesel::joinable!(oauth_refresh_tokens -> oauth_grants (grant_id));
diesel::joinable!(oauth_consents -> oauth_clients (client_id));
diesel::joinable!(oauth_authorization_requests -> oauth_clients (client_id));
diesel::joinable!(oauth_device_codes -> oauth_clients (client_id));
diesel::joinable!(oauth_client_icons -> oauth_clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(
    oauth_client_icons,
    oauth_device_codes,
    oauth_clients,
    users,
    server_secrets,
    signing_keys,
    oauth_authorization_requests,
    oauth_authorization_codes,
    oauth_grants,
    oauth_access_tokens,
    oauth_refresh_tokens,
    oauth_consents,
    oauth_client_daily_tokens,
    oauth_secret_reveals,
    sites,
    site_access,
    annotations
);
