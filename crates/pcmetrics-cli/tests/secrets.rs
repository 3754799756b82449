//! Secrets never reach the screen or the disk in clear (issue 12): credentials written
//! into an endpoint or catalog URL (`http://user:password@host`, `?token=`) are redacted
//! in every place a URL is shown — `config show`, `config check`, the error of a failed
//! sync, the sync-run log in the buffer, `status` and `status --json`.

mod common;

use common::{pcmetrics, text};

const PASSWORD: &str = "plantedPassw0rd4321";
const TOKEN: &str = "plantedT0ken9876";

/// A loopback port nothing listens on, so every request fails fast.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn assert_no_secret(what: &str, shown: &str) {
    for s in [PASSWORD, TOKEN] {
        assert!(!shown.contains(s), "{what} shows {s}:\n{shown}");
    }
}

#[test]
fn credentials_in_urls_are_redacted_everywhere_a_url_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[storage]\nkind = \"s3\"\nbucket = \"warehouse\"\nregion = \"us-east-1\"\n\
             endpoint = \"http://minio:{PASSWORD}@127.0.0.1:{}/?X-Amz-Security-Token={TOKEN}\"\n\
             allow_http = true\npath_style = true\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n\
             [catalog]\nkind = \"rest\"\nuri = \"http://cat:{PASSWORD}@127.0.0.1:{}/?token={TOKEN}\"\n\
",
            closed_port(),
            closed_port()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", cfg];
        all.extend_from_slice(args);
        pcmetrics(&data, &all, common::NO_ENV)
    };

    let show = run(&["config", "show"]);
    assert!(show.status.success(), "{}", text(&show));
    assert_no_secret("config show", &text(&show));
    assert!(
        text(&show).contains("127.0.0.1"),
        "the rest of the URL stays readable: {}",
        text(&show)
    );
    assert_no_secret("config check", &text(&run(&["config", "check"])));

    let sim = run(&["simulate", "--samples", "20"]);
    assert!(sim.status.success(), "{}", text(&sim));
    let sync = run(&["sync"]);
    assert!(!sync.status.success(), "nothing listens: {}", text(&sync));
    assert_no_secret("a failed sync", &text(&sync));
    assert_no_secret("a failed sync at -vv", &text(&run(&["-vv", "sync"])));
    assert_no_secret("status", &text(&run(&["status"])));
    let json = run(&["status", "--json"]);
    assert!(json.status.success(), "{}", text(&json));
    assert_no_secret("status --json", &text(&json));
    for s in [PASSWORD, TOKEN] {
        let files = common::files_containing(&data, s);
        assert!(files.is_empty(), "{s} is stored in {files:?}");
    }
}
