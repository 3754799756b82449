//! `pcmetrics --version`: the version and the buffer and table layouts this build writes,
//! as the layout constants say (a new migration or evolved column changes the output).

use std::process::Command;

use pcmetrics_core::buffer::{SCHEMA_VERSION, migrate};
use pcmetrics_core::encode::schema::{EVOLVED_COLUMNS, TABLE_SCHEMA};

fn run(arg: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_pcmetrics"))
        .arg(arg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn version_shows_the_buffer_and_table_layouts() {
    assert_eq!(SCHEMA_VERSION, migrate::LATEST);
    let out = run("--version");
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("pcmetrics {}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
    assert_eq!(
        lines[1],
        format!("buffer layout: {SCHEMA_VERSION}"),
        "{out}"
    );
    let evolved: Vec<_> = EVOLVED_COLUMNS.iter().map(|c| c.name).collect();
    assert!(!evolved.is_empty());
    assert_eq!(
        lines[2],
        format!(
            "table layout:  {} base columns + {} evolved column{} ({})",
            TABLE_SCHEMA.as_struct().fields().len(),
            evolved.len(),
            if evolved.len() == 1 { "" } else { "s" },
            evolved.join(", ")
        ),
        "{out}"
    );
    // -V stays one line.
    assert_eq!(
        run("-V"),
        format!("pcmetrics {}\n", env!("CARGO_PKG_VERSION"))
    );
}
