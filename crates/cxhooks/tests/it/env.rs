//! A store for the binary (a data directory, or a fresh PostgreSQL schema) and helpers to run it.

use cxhooks_store::testing::{Backend, postgres_url};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// A child process that is killed when dropped, so that a failing test leaves no server behind
/// (its inherited stderr would keep the test harness waiting).
pub struct Proc(pub Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A store for the CLI: a data directory, or a PostgreSQL schema named in the URL.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    /// The PostgreSQL schema behind `database_url`.
    schema: Option<String>,
}

impl Env {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut schema_name = None;
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                // A fresh schema, created first, and selected through the URL's options.
                let schema = format!("cxcli_{}", uuid::Uuid::new_v4().simple());
                let location = cxhooks_store::StoreLocation::Postgres {
                    url: postgres_url(),
                    schema: Some(schema.clone()),
                };
                cxhooks_store::Store::connect(&location)
                    .await
                    .unwrap()
                    .close()
                    .await;
                schema_name = Some(schema.clone());
                let sep = if postgres_url().contains('?') {
                    '&'
                } else {
                    '?'
                };
                Some(format!(
                    "{}{sep}options=-c%20search_path%3D{schema}",
                    postgres_url()
                ))
            }
        };
        Env {
            dir,
            database_url,
            schema: schema_name,
        }
    }

    /// The PostgreSQL store the CLI runs on, opened directly to inspect what it holds.
    pub async fn postgres_store(&self) -> cxhooks_store::Store {
        let location = cxhooks_store::StoreLocation::Postgres {
            url: postgres_url(),
            schema: self.schema.clone(),
        };
        cxhooks_store::Store::connect(&location).await.unwrap()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cxhooks"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env_remove("CXHOOKS_KEYS__MASTER_KEY");
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
            cmd.env(
                "CXHOOKS_KEYS__MASTER_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            );
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn fails(&self, args: &[&str], code: i32, says: &str) {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(says),
            "{args:?}: expected '{says}' in: {stderr}"
        );
    }

    /// Starts `serve` on a free port; returns the process and its URL.
    pub fn serve(&self) -> (Proc, String) {
        self.serve_with(&[])
    }

    /// Starts `serve` on a free port with extra environment (`CXHOOKS_…` settings).
    pub fn serve_with(&self, vars: &[(&str, &str)]) -> (Proc, String) {
        let mut cmd = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        cmd.envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("serve said: {line}"));
        (Proc(child), url.split(' ').next().unwrap().to_owned())
    }
}
