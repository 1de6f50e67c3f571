//! The binary as a Unix command: what it writes into its data directory is its user's alone.

use crate::env::Env;
use cxhooks_store::testing::Backend;
use std::path::Path;

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `tenant create` makes the data directory, the store and the master key; `serve` on it adds
/// the store's `-wal` and `-shm` files. None of them is readable by anyone but their owner.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_its_owners_alone() {
    let env = Env::new(Backend::Sqlite).await;
    env.ok(&["tenant", "create", "acme"]);
    let data = env.dir.path().join("cxhooks-data");
    assert_eq!(mode(&data), 0o700);
    let (_server, _) = env.serve();
    let mut names: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cxhooks.db",
            "cxhooks.db-shm",
            "cxhooks.db-wal",
            "master.key"
        ]
    );
    for name in names {
        assert_eq!(mode(&data.join(&name)), 0o600, "{name}");
    }
}
