//! Configuration: built-in defaults, then a TOML file (`--config`), then `CXHOOKS_*`
//! environment variables (`delivery.retry_schedule` is `CXHOOKS_DELIVERY__RETRY_SCHEDULE`),
//! then command-line flags. Every key is documented in `docs/configuration.md`.

mod master_key;
mod sections;
mod serde_forms;

pub use master_key::load_master_key;
pub use sections::{
    AuthConfig, CatalogConfig, DeliveryConfig, ErrorAfter, ExternalIssuer, KeysConfig,
    LimitsConfig, MetricsConfig, RetentionConfig, ServerConfig, StoreConfig, TelemetryConfig,
};
pub use serde_forms::duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A configuration problem, said so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// One of `server.cors_origins`: `*` alone, or an origin as browsers send it (scheme, host and
/// port if not the scheme's own; no path, no trailing slash).
fn check_origin(origin: &str, of: usize) -> Result<(), ConfigError> {
    if origin == "*" {
        return if of == 1 {
            Ok(())
        } else {
            Err(ConfigError(
                "server.cors_origins: '*' allows every origin; list it alone".into(),
            ))
        };
    }
    let fix = "write it as a browser sends it in Origin, e.g. 'https://app.example.com' or 'http://localhost:3000'";
    let url = url::Url::parse(origin).map_err(|e| {
        ConfigError(format!(
            "server.cors_origins: '{origin}' is not an origin ({e}): {fix}"
        ))
    })?;
    let canonical = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || canonical != origin {
        return Err(ConfigError(format!(
            "server.cors_origins: '{origin}' is not an origin (expected '{canonical}'): {fix}"
        )));
    }
    Ok(())
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[auth]`
    pub auth: AuthConfig,
    /// `[keys]`
    pub keys: KeysConfig,
    /// `[delivery]`
    pub delivery: DeliveryConfig,
    /// `[limits]`
    pub limits: LimitsConfig,
    /// `[retention]`
    pub retention: RetentionConfig,
    /// `[metrics]`
    pub metrics: MetricsConfig,
    /// `[telemetry]`
    pub telemetry: TelemetryConfig,
    /// `[catalog]`
    pub catalog: CatalogConfig,
}

/// Flags given on the command line; each overrides the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`
    pub config_file: Option<PathBuf>,
    /// `--listen ADDR`
    pub listen: Option<String>,
    /// `--data-dir DIR`
    pub data_dir: Option<PathBuf>,
    /// `--database-url URL`
    pub database_url: Option<String>,
}

impl Config {
    /// Loads defaults ← file ← environment ← flags.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let env = Env::prefixed("CXHOOKS_");
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &overrides.config_file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only nested keys are settings: CXHOOKS_TEST_DATABASE_URL and the like are not.
        figment = figment.merge(env.filter(|k| k.as_str().contains("__")).split("__"));
        if let Some(v) = &overrides.listen {
            figment = figment.merge(("server.listen", v));
        }
        if let Some(v) = &overrides.data_dir {
            figment = figment.merge(("store.data_dir", v));
        }
        if let Some(v) = &overrides.database_url {
            figment = figment.merge(("store.database_url", v));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        config.validate()?;
        config.catalog.install()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        cxhooks_signing::RsaBits::from_bits(self.keys.rsa_bits)
            .map_err(|e| ConfigError(format!("keys.rsa_bits: {e}")))?;
        if let Some(url) = &self.store.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "store.database_url must be a postgres:// URL; leave it unset for the embedded SQLite store".into(),
            ));
        }
        if self
            .delivery
            .retry_schedule
            .windows(2)
            .any(|w| w[0] >= w[1])
        {
            return Err(ConfigError(
                "delivery.retry_schedule must be increasing offsets from the first attempt".into(),
            ));
        }
        if self.delivery.lease <= self.delivery.timeout {
            return Err(ConfigError(
                "delivery.lease must be longer than delivery.timeout: a delivery still being sent must not be claimed again"
                    .into(),
            ));
        }
        if self.delivery.retry_schedule.is_empty() {
            return Err(ConfigError(
                "delivery.retry_schedule needs at least one offset".into(),
            ));
        }
        if self.delivery.recover_per_s == 0 {
            return Err(ConfigError(
                "delivery.recover_per_s must be at least 1 (deliveries a recovery redelivers per second; default 100)"
                    .into(),
            ));
        }
        self.keys.check_grace(&self.delivery.retry_schedule)?;
        for origin in &self.server.cors_origins {
            check_origin(origin, self.server.cors_origins.len())?;
        }
        for (tenant, i) in &self.auth.issuers {
            let fix = "give it exactly as its tokens' iss claim has it, e.g. \
                       'https://keycloak.example.com/realms/acme'";
            let ok = url::Url::parse(&i.issuer)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.query().is_none());
            if !ok {
                return Err(ConfigError(format!(
                    "auth.issuers.{tenant}.issuer: '{}' is not an issuer URL: {fix}",
                    i.issuer
                )));
            }
            if i.client_id_claims.is_empty() {
                return Err(ConfigError(format!(
                    "auth.issuers.{tenant}.client_id_claims: name at least one claim (\"azp\", \
                     \"client_id\")"
                )));
            }
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint {
            let url = url::Url::parse(endpoint).map_err(|e| {
                ConfigError(format!(
                    "telemetry.otlp_endpoint: '{endpoint}' is not a URL ({e}): give the \
                     collector's OTLP/HTTP address, e.g. 'http://127.0.0.1:4318'"
                ))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError(format!(
                    "telemetry.otlp_endpoint: '{endpoint}' is not http(s): cxhooks exports \
                     OTLP over HTTP (port 4318 by convention), not gRPC"
                )));
            }
        }
        if self.limits.max_body_bytes == 0 {
            return Err(ConfigError(
                "limits.max_body_bytes must be more than 0".into(),
            ));
        }
        Ok(())
    }

    /// The CORS layer of `server.cors_origins`; none when the list is empty.
    pub fn cors(&self) -> Option<tower_http::cors::CorsLayer> {
        use axum::http::{HeaderName, HeaderValue, Method, header};
        use tower_http::cors::{AllowOrigin, CorsLayer};
        let origins = &self.server.cors_origins;
        if origins.is_empty() {
            return None;
        }
        let allow = if origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        let idempotency = HeaderName::from_static("idempotency-key");
        let request_id = HeaderName::from_static("x-request-id");
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    idempotency,
                    request_id.clone(),
                ])
                .expose_headers([
                    header::LOCATION,
                    header::ETAG,
                    header::RETRY_AFTER,
                    header::WWW_AUTHENTICATE,
                    request_id,
                ])
                .max_age(std::time::Duration::from_secs(600)),
        )
    }

    /// Where the store is.
    pub fn store_location(&self) -> cxhooks_store::StoreLocation {
        match &self.store.database_url {
            Some(url) => cxhooks_store::StoreLocation::Postgres {
                url: url.clone(),
                schema: None,
            },
            None => cxhooks_store::StoreLocation::Sqlite {
                path: self.store.data_dir.join("cxhooks.db"),
            },
        }
    }

    /// The effective master key file.
    pub fn master_key_file(&self) -> PathBuf {
        self.keys
            .master_key_file
            .clone()
            .unwrap_or_else(|| self.store.data_dir.join("master.key"))
    }

    /// The configuration as TOML with secrets masked (`serve --print-config`).
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.keys.master_key.is_some() {
            shown.keys.master_key = Some("***".into());
        }
        if let Some(url) = &shown.store.database_url {
            shown.store.database_url = Some(mask_password(url));
        }
        toml::to_string_pretty(&shown).expect("the configuration serialises")
    }
}

fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_default();
            match (key.is_empty(), source.is_empty()) {
                (false, false) => format!("{key} (from {source}): {}", e.kind),
                (false, true) => format!("{key}: {}", e.kind),
                _ => e.kind.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replaces the password of a URL with `***`.
pub fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
// figment's Jail returns its large error type from every closure.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use std::time::Duration;

    fn load(o: &Overrides) -> Result<Config, ConfigError> {
        Config::load(o)
    }

    #[test]
    fn defaults_match_the_spec() {
        Jail::expect_with(|_| {
            let c = load(&Overrides::default()).unwrap();
            assert_eq!(c.server.listen, "127.0.0.1:8480");
            assert_eq!(c.auth.token_ttl, Duration::from_secs(300));
            assert_eq!(c.delivery.retry_schedule.len(), 6);
            assert_eq!(c.delivery.retry_schedule[5], Duration::from_secs(7200));
            assert_eq!(c.limits.max_body_bytes, 1 << 20);
            assert_eq!(
                c.delivery.error_after,
                ErrorAfter {
                    failing_for: Duration::from_secs(86400),
                    deliveries: 20
                }
            );
            let printed = c.to_masked_toml();
            assert!(
                printed.contains("retry_schedule = \"3s,18s,1m 48s,10m 48s,1h,2h\""),
                "{printed}"
            );
            assert!(printed.contains("max_body_bytes = \"1MiB\""), "{printed}");
            Ok(())
        });
    }

    #[test]
    fn a_collector_address_must_be_otlp_over_http() {
        Jail::expect_with(|jail| {
            assert_eq!(
                load(&Overrides::default()).unwrap().telemetry.otlp_endpoint,
                None
            );
            for (endpoint, says) in [
                ("grpc://collector:4317", "not http(s)"),
                ("collector:4318", "not http(s)"),
                ("http//collector", "not a URL"),
            ] {
                jail.set_env("CXHOOKS_TELEMETRY__OTLP_ENDPOINT", endpoint);
                let err = load(&Overrides::default()).expect_err(endpoint).to_string();
                assert!(
                    err.contains("telemetry.otlp_endpoint") && err.contains(says),
                    "{err}"
                );
            }
            jail.set_env("CXHOOKS_TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4318");
            let c = load(&Overrides::default()).unwrap();
            assert_eq!(
                c.telemetry.otlp_endpoint.as_deref(),
                Some("http://127.0.0.1:4318")
            );
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[server]\nlisten = \"127.0.0.1:9000\"\n[delivery]\nretry_schedule = [\"1s\", \"2s\"]\n\
                 [limits]\nmax_body_bytes = \"64KiB\"\nmax_webhooks_per_client = 5\n\
                 [store]\nvacuum = false\n",
            )?;
            let file = Overrides {
                config_file: Some("c.toml".into()),
                ..Default::default()
            };
            let c = load(&file).unwrap();
            assert_eq!(c.server.listen, "127.0.0.1:9000");
            assert_eq!(
                c.delivery.retry_schedule,
                vec![Duration::from_secs(1), Duration::from_secs(2)]
            );
            assert_eq!(c.limits.max_body_bytes, 64 << 10);
            assert!(!c.store.vacuum && Config::default().store.vacuum);

            // The environment overrides the file; lists are comma-separated.
            jail.set_env("CXHOOKS_DELIVERY__RETRY_SCHEDULE", "1s,5s,10s");
            jail.set_env("CXHOOKS_SERVER__LISTEN", "127.0.0.1:9100");
            jail.set_env("CXHOOKS_KEYS__MASTER_KEY", "c2VjcmV0");
            // Not a setting: ignored, not refused.
            jail.set_env("CXHOOKS_TEST_DATABASE_URL", "postgres://x");
            let c = load(&file).unwrap();
            assert_eq!(c.delivery.retry_schedule.len(), 3);
            assert_eq!(c.server.listen, "127.0.0.1:9100");
            assert_eq!(c.limits.max_webhooks_per_client, 5);
            assert!(c.to_masked_toml().contains("master_key = \"***\""));
            assert!(!c.to_masked_toml().contains("c2VjcmV0"));

            // Flags override both.
            let flags = Overrides {
                listen: Some("127.0.0.1:0".into()),
                ..file
            };
            assert_eq!(load(&flags).unwrap().server.listen, "127.0.0.1:0");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        Jail::expect_with(|jail| {
            let o = Overrides {
                config_file: Some("c.toml".into()),
                ..Default::default()
            };
            jail.create_file("c.toml", "[delivery]\ntimeout = \"soon\"\n")?;
            let err = load(&o).unwrap_err().to_string();
            assert!(
                err.contains("delivery.timeout") && err.contains("'soon'"),
                "{err}"
            );

            jail.create_file("c.toml", "[delivery]\ntimeuot = \"1s\"\n")?;
            let err = load(&o).unwrap_err().to_string();
            assert!(err.contains("timeuot"), "{err}");

            jail.create_file("c.toml", "[keys]\nrsa_bits = 1024\n")?;
            let err = load(&o).unwrap_err().to_string();
            assert!(err.contains("rsa_bits") && err.contains("2048"), "{err}");

            jail.create_file("c.toml", "")?;
            jail.set_env("CXHOOKS_DELIVERY__RETRY_SCHEDULE", "18s,3s");
            let err = load(&o).unwrap_err().to_string();
            assert!(err.contains("increasing"), "{err}");

            let o = Overrides {
                database_url: Some("mysql://x".into()),
                ..Default::default()
            };
            assert!(load(&o).unwrap_err().to_string().contains("postgres://"));
            let o = Overrides {
                config_file: Some("missing.toml".into()),
                ..Default::default()
            };
            assert!(load(&o).unwrap_err().to_string().contains("does not exist"));
            Ok(())
        });
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
