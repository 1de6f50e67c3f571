//! The master key: given in the configuration, read from its file, or generated into it for
//! the embedded store.

use super::{Config, ConfigError};
use std::path::Path;

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
        cxhooks_store::private_dir(dir)
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
    use crate::config::Overrides;
    use figment::Jail;

    #[test]
    fn master_key_is_generated_for_sqlite_and_required_for_postgres() {
        Jail::expect_with(|_| {
            let sqlite = Config::load(&Overrides {
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
            let pg = Config::load(&pg).unwrap();
            let err = load_master_key(&pg).unwrap_err().to_string();
            assert!(err.contains("CXHOOKS_KEYS__MASTER_KEY"), "{err}");
            assert!(pg.to_masked_toml().contains("postgres://u:***@h/db"));
            Ok(())
        });
    }
}
