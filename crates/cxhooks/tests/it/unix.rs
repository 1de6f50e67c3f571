//! The binary as a Unix command: what it writes into its data directory is its user's alone,
//! commands that work on an existing store do not create one where they were pointed by
//! mistake, and a reader that goes away (`| head`) ends its output quietly.

use crate::env::Env;
use cxhooks_store::testing::Backend;
use cxhooks_sync::replica::Replica;
use std::path::Path;
use std::process::{Output, Stdio};

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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Administration commands other than `tenant create` (and `serve`, `migrate`) need the store
/// to exist, and `sync --timeline` the replica: a mistyped `--data-dir` or `--into` is an
/// error naming what is missing, where, and the fix, and leaves nothing behind.
async fn commands_on_a_store_refuse_one_that_does_not_exist(backend: Backend) {
    let env = Env::new(backend).await;
    if backend == Backend::Sqlite {
        let wrong = env.dir.path().join("typo");
        let wrong_arg = wrong.to_str().unwrap();
        for args in [
            &["tenant", "list"][..],
            &["tenant", "show", "acme"],
            &["tenant", "set", "acme", "--webhooks", "off"],
            &["client", "list", "--tenant", "acme"],
            &["operator", "list", "--tenant", "acme"],
        ] {
            let mut all = args.to_vec();
            all.extend(["--data-dir", wrong_arg]);
            let out = env.run(&all);
            assert_eq!(out.status.code(), Some(1), "{all:?}: {}", stderr(&out));
            let said = stderr(&out);
            let path = wrong.join("cxhooks.db");
            assert!(
                said.contains(&format!("no store at {}", path.display()))
                    && said.contains("--data-dir")
                    && said.contains("cxhooks tenant create"),
                "{all:?}: {said}"
            );
            assert!(!wrong.exists(), "{all:?} created {}", wrong.display());
        }
        // `tenant create` is how a store starts.
        env.ok(&["tenant", "create", "acme", "--data-dir", wrong_arg]);
        assert!(
            env.ok(&["tenant", "list", "--data-dir", wrong_arg])
                .contains("acme")
        );
    }

    // The replica: an SQLite file that is not there, or a database without the replica's tables.
    let missing = env.dir.path().join("replica.db");
    let into = format!("sqlite:{}", missing.display());
    let out = env.run(&["sync", "--timeline", "--into", &into]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("no replica at {into}")),
        "{}",
        stderr(&out)
    );
    assert!(
        !missing.exists(),
        "sync --timeline created {}",
        missing.display()
    );
    if let Some(url) = &env.database_url {
        let out = env.run(&["sync", "--timeline", "--into", url]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("no replica in the PostgreSQL database of --into"),
            "{}",
            stderr(&out)
        );
    }
}

/// Runs `args` with its standard output already closed by its reader, as `| head` leaves it
/// once it has its lines.
fn with_closed_stdout(env: &Env, args: &[&str]) -> Output {
    let mut child = env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

async fn a_reader_that_goes_away_ends_the_output_quietly(backend: Backend) {
    let env = Env::new(backend).await;
    for i in 0..30 {
        env.ok(&["tenant", "create", &format!("t{i}")]);
    }
    let replica = env.dir.path().join("replica.db");
    let into = format!("sqlite:{}", replica.display());
    let r = Replica::open(&into).await.unwrap();
    for i in 0..200 {
        r.log("applied", &format!("notification {i}"))
            .await
            .unwrap();
    }
    for args in [
        &["sync", "--timeline", "--into", &into][..],
        &["sync", "--timeline", "--json", "--into", &into],
        &["tenant", "list"],
        &["tenant", "list", "--json"],
        &["client", "list", "--tenant", "t1"],
    ] {
        let out = with_closed_stdout(&env, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

cxhooks_store::both_backends!(
    commands_on_a_store_refuse_one_that_does_not_exist,
    a_reader_that_goes_away_ends_the_output_quietly,
);
