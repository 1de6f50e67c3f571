//! Configuration: built-in defaults, then a TOML file (`--config`), then `CXHOOKS_*`
//! environment variables (`delivery.retry_schedule` is `CXHOOKS_DELIVERY__RETRY_SCHEDULE`),
//! then command-line flags. Every key is documented in `docs/configuration.md`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, said so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

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
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listener address; port 0 picks a free port.
    pub listen: String,
    /// Base of `iss` and of links; `http://{listen}` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8480".into(),
            public_url: None,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the embedded SQLite store and its generated master key.
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// PostgreSQL: each node vacuums the store's tables once updates have left enough dead
    /// rows in them, so delivered notifications' old row versions are reused, not kept.
    pub vacuum: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./cxhooks-data"),
            database_url: None,
            vacuum: true,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Access token lifetime.
    #[serde(with = "duration")]
    pub token_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(300),
        }
    }
}

/// `[keys]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Application key size: 2048, 3072 or 4096.
    pub rsa_bits: u32,
    /// File with the 32-byte master key; `{store.data_dir}/master.key` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The master key itself, base64 (`CXHOOKS_KEYS__MASTER_KEY`); wins over the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<String>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            rsa_bits: 2048,
            master_key_file: None,
            master_key: None,
        }
    }
}

/// `[delivery]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// One attempt, connect to last byte.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Retry offsets from the first attempt.
    #[serde(with = "duration_list")]
    pub retry_schedule: Vec<Duration>,
    /// Allow loopback / private addresses as webhook urls.
    pub allow_private_targets: bool,
    /// Concurrent requests to one webhook.
    pub max_in_flight_per_webhook: u32,
    /// How long a claimed delivery stays claimed by a node.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// A webhook failing without success this long and this many deliveries goes to `error`.
    pub error_after: ErrorAfter,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let secs = |s| Duration::from_secs(s);
        Self {
            timeout: secs(10),
            retry_schedule: vec![
                secs(3),
                secs(18),
                secs(108),
                secs(648),
                secs(3600),
                secs(7200),
            ],
            allow_private_targets: false,
            max_in_flight_per_webhook: 16,
            lease: secs(60),
            error_after: ErrorAfter {
                failing_for: secs(24 * 3600),
                deliveries: 20,
            },
        }
    }
}

/// `delivery.error_after`, written `24h,20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorAfter {
    /// How long every attempt must have failed.
    pub failing_for: Duration,
    /// How many deliveries must have failed in that time.
    pub deliveries: u32,
}

impl Serialize for ErrorAfter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!(
            "{},{}",
            humantime::format_duration(self.failing_for),
            self.deliveries
        ))
    }
}

impl<'de> Deserialize<'de> for ErrorAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (dur, n) = text.split_once(',').ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected 'DURATION,COUNT' like '24h,20', got '{text}'"
            ))
        })?;
        Ok(ErrorAfter {
            failing_for: duration::parse(dur).map_err(serde::de::Error::custom)?,
            deliveries: n.trim().parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "'{}' is not a whole number of deliveries",
                    n.trim()
                ))
            })?,
        })
    }
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Webhooks one client may own.
    pub max_webhooks_per_client: u32,
    /// Notifications one client may receive per calendar month.
    pub monthly_notifications_per_client: u64,
    /// Filters in one webhook.
    pub max_filters_per_webhook: u32,
    /// Largest request body; larger gets 413.
    #[serde(with = "byte_size")]
    pub max_body_bytes: u64,
    /// Management API requests per client per second; past it 429 with `Retry-After`.
    pub api_requests_per_client_per_s: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_webhooks_per_client: 100,
            monthly_notifications_per_client: 1_000_000,
            max_filters_per_webhook: 10,
            max_body_bytes: 1 << 20,
            api_requests_per_client_per_s: 100,
        }
    }
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
        if self.limits.max_body_bytes == 0 {
            return Err(ConfigError(
                "limits.max_body_bytes must be more than 0".into(),
            ));
        }
        Ok(())
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

/// Durations written `300s`, `1h`, `1h 30m` (humantime), or a bare number of seconds.
pub mod duration {
    use super::*;

    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        humantime::parse_duration(text)
            .map_err(|e| format!("'{text}' is not a duration like 300s, 18s or 1h: {e}"))
    }

    /// Serialises as humantime text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Accepts text or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

mod duration_list {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let parts: Vec<String> = v
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        s.serialize_str(&parts.join(","))
    }

    /// Accepts `"3s,18s,108s"` (as environment variables write lists) or a TOML array.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<String>),
        }
        let parts = match Raw::deserialize(d)? {
            Raw::Text(t) => t.split(',').map(str::to_owned).collect(),
            Raw::List(l) => l,
        };
        parts
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| duration::parse(p).map_err(serde::de::Error::custom))
            .collect()
    }
}

mod byte_size {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        let text = match *v {
            n if n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
            n if n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
            n if n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
            n => n.to_string(),
        };
        s.serialize_str(&text)
    }

    pub fn parse(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("'{t}' is not a size like 1MiB, 512KiB or 1048576"))?;
        let mult = match unit.trim() {
            "" | "B" => 1,
            "KiB" | "KB" | "k" | "K" => 1 << 10,
            "MiB" | "MB" | "M" => 1 << 20,
            "GiB" | "GB" | "G" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit '{other}' in '{t}': use B, KiB, MiB or GiB"
                ));
            }
        };
        Ok(n * mult)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(n),
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Reads the master key: `keys.master_key` (base64) if set, else the key file. For the embedded
/// store a missing file is generated (mode 0600); PostgreSQL nodes must all share one key, so
/// there it must be given.
pub fn load_master_key(config: &Config) -> Result<cxhooks_signing::MasterKey, ConfigError> {
    use cxhooks_signing::MasterKey;
    if let Some(b64) = &config.keys.master_key {
        return MasterKey::from_base64(b64)
            .map_err(|e| ConfigError(format!("keys.master_key: {e}")));
    }
    let file = config.master_key_file();
    let postgres = config.store.database_url.is_some();
    if postgres && config.keys.master_key_file.is_none() && !file.exists() {
        return Err(ConfigError(
            "PostgreSQL stores need the master key every node shares: set keys.master_key_file or \
             CXHOOKS_KEYS__MASTER_KEY (base64 of 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`)"
                .into(),
        ));
    }
    if !file.exists() {
        if postgres {
            return Err(ConfigError(format!(
                "master key file {} does not exist",
                file.display()
            )));
        }
        write_new_key(&file)?;
    }
    read_key_file(&file)
}

fn write_new_key(file: &Path) -> Result<(), ConfigError> {
    use std::io::Write;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(mut f) => f
            .write_all(&cxhooks_signing::MasterKey::generate_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| ConfigError(format!("cannot write master key {}: {e}", file.display()))),
        // Another process generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(ConfigError(format!(
            "cannot create master key {}: {e}",
            file.display()
        ))),
    }
}

fn read_key_file(file: &Path) -> Result<cxhooks_signing::MasterKey, ConfigError> {
    use cxhooks_signing::MasterKey;
    let bytes = std::fs::read(file)
        .map_err(|e| ConfigError(format!("cannot read master key {}: {e}", file.display())))?;
    let key = if bytes.len() == 32 {
        MasterKey::from_bytes(&bytes)
    } else {
        MasterKey::from_base64(&String::from_utf8_lossy(&bytes))
    };
    key.map_err(|e| {
        ConfigError(format!(
            "master key file {}: {e} (expected 32 raw bytes or their base64)",
            file.display()
        ))
    })
}

#[cfg(test)]
// figment's Jail returns its large error type from every closure.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

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
    fn master_key_is_generated_for_sqlite_and_required_for_postgres() {
        Jail::expect_with(|_| {
            let sqlite = load(&Overrides {
                data_dir: Some("data".into()),
                ..Default::default()
            })
            .unwrap();
            let first = load_master_key(&sqlite).unwrap();
            assert_eq!(std::fs::read("data/master.key").unwrap().len(), 32);
            assert_eq!(
                load_master_key(&sqlite).unwrap().fingerprint(),
                first.fingerprint()
            );

            let pg = Overrides {
                database_url: Some("postgres://u:pw@h/db".into()),
                ..Default::default()
            };
            let pg = load(&pg).unwrap();
            let err = load_master_key(&pg).unwrap_err().to_string();
            assert!(err.contains("CXHOOKS_KEYS__MASTER_KEY"), "{err}");
            assert!(pg.to_masked_toml().contains("postgres://u:***@h/db"));
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
