//! docker-compose.yml, .env and config/compose.toml must describe the same stack: a user
//! who runs `docker compose up -d` and `pcmetrics --config config/compose.toml run` must
//! reach MinIO and the REST catalog with the right bucket, region and credentials.

use std::collections::HashMap;
use std::path::PathBuf;

use pcmetrics_core::config::{CatalogSettings, Config, StorageSettings};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dotenv() -> HashMap<String, String> {
    std::fs::read_to_string(repo().join(".env"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `${VAR}` from .env, as docker compose interpolates it.
fn interpolate(s: &str, env: &HashMap<String, String>) -> String {
    let mut out = s.to_owned();
    for (k, v) in env {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    assert!(!out.contains("${"), "unset variable in {s:?}");
    out
}

#[test]
fn compose_stack_and_pcmetrics_config_agree() {
    let env = dotenv();
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap())
            .unwrap();
    let svc = |name: &str| compose["services"][name].clone();
    let var = |svc_name: &str, key: &str| -> String {
        interpolate(
            svc(svc_name)["environment"][key]
                .as_str()
                .unwrap_or_else(|| panic!("{svc_name}.{key}")),
            &env,
        )
    };
    let ports = |svc_name: &str| -> Vec<String> {
        svc(svc_name)["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    };

    let text = std::fs::read_to_string(repo().join("config/compose.toml")).unwrap();
    let config = Config::from_toml_with_env("config/compose.toml", &text, Vec::new()).unwrap();
    let settings = config
        .validate(Some(std::path::Path::new("/tmp/pcmetrics-compose")))
        .unwrap();
    let StorageSettings::S3(s3) = &settings.storage else {
        panic!("compose.toml must use s3 storage")
    };
    let CatalogSettings::Rest { uri, .. } = &settings.catalog else {
        panic!("compose.toml must use the REST catalog")
    };

    // Ports: MinIO's S3 API and the catalog are published where the config points.
    let s3_port = s3
        .endpoint
        .as_deref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        ports("minio").contains(&format!("{s3_port}:9000")),
        "{:?}",
        ports("minio")
    );
    assert!(
        ports("minio").iter().any(|p| p.ends_with(":9001")),
        "console port"
    );
    let rest_port = uri.rsplit(':').next().unwrap().to_owned();
    assert!(ports("iceberg-rest").contains(&format!("{rest_port}:8181")));

    // Bucket: the init creates it, the catalog's warehouse is in it, pcmetrics lands in it.
    let init = interpolate(
        &svc("minio-init")["entrypoint"]
            .as_str()
            .unwrap()
            .replace("$$WAREHOUSE_BUCKET", &var("minio-init", "WAREHOUSE_BUCKET")),
        &env,
    );
    assert!(
        init.contains(&format!("mb --ignore-existing local/{}", s3.bucket)),
        "{init}"
    );
    assert!(var("iceberg-rest", "CATALOG_WAREHOUSE").starts_with(&format!("s3://{}/", s3.bucket)));
    assert_eq!(
        var("iceberg-rest", "CATALOG_S3_PATH__STYLE__ACCESS"),
        "true"
    );
    assert!(s3.path_style);

    // Region and credentials.
    assert_eq!(var("minio", "MINIO_REGION"), s3.region);
    assert_eq!(var("iceberg-rest", "AWS_REGION"), s3.region);
    assert_eq!(var("minio", "MINIO_ROOT_USER"), s3.access_key_id.expose());
    assert_eq!(
        var("minio", "MINIO_ROOT_PASSWORD"),
        s3.secret_access_key.expose()
    );
    assert_eq!(
        var("iceberg-rest", "AWS_ACCESS_KEY_ID"),
        s3.access_key_id.expose()
    );
    assert_eq!(
        var("iceberg-rest", "AWS_SECRET_ACCESS_KEY"),
        s3.secret_access_key.expose()
    );
    assert_eq!(settings.table_ident(), "bronze.pc_metrics");
}
