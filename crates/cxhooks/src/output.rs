//! What commands print on standard output. Rust ignores `SIGPIPE`, so `println!` to a reader
//! that has gone away (`cxhooks sync --timeline | head`) panics with exit code 101; here a
//! closed pipe ends the process quietly with success instead, as the reader has all it asked
//! for (`head` read its lines). Any other write error is reported on stderr, exit code 1.

use std::io::{self, Write};

/// Writes `args` and a line break; use [`outln!`](crate::outln).
pub fn line(args: std::fmt::Arguments<'_>) {
    write(|out| {
        out.write_fmt(args)?;
        out.write_all(b"\n")
    });
}

/// Writes `args`; use [`out!`](crate::out).
pub fn text(args: std::fmt::Arguments<'_>) {
    write(|out| out.write_fmt(args));
}

fn write(f: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    let mut out = io::stdout().lock();
    if let Err(e) = f(&mut out).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nothing more can be printed there; say why where it can still be read.
        let _ = writeln!(io::stderr(), "error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}
