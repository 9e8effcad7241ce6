//! Basic and token auth against the real registry: credential files, credential helpers,
//! minimal token scopes, OAuth2 refresh tokens, clear errors without secrets.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::{builder, image};
use mbi_core::{MemoryStore, Platform};
use mbi_registry::{AuthConfig, Credentials, Error, PlatformSelector, Reference};
use mbi_testkit::registry::{RegistryAuth, TestRegistry, fast_tempdir};
use mbi_testkit::token::{Grant, KeyHeader, TokenConfig, User};

const PASSWORD: &str = "pa55-Wörd-s3cret";

fn amd64() -> PlatformSelector {
    PlatformSelector::Platform(Platform::linux("amd64"))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn write_config(dir: &std::path::Path, json: &str) -> std::path::PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, json).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_config_json_and_wrong_password() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Htpasswd(vec![("alice".into(), PASSWORD.into())]))
        .unwrap();
    let (dir, store, desc) = image(1, 50_000, 3);
    let target: Reference = format!("{}/private/app:v1", reg.host()).parse().unwrap();

    let cfg = write_config(
        dir.path(),
        &format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.host(),
            b64(&format!("alice:{PASSWORD}"))
        ),
    );
    let client = builder().auth(AuthConfig::anonymous().with_auth_file(&cfg)).build().unwrap();
    client.push(store.clone(), &desc, &target).await.unwrap();
    let pulled = client.pull(&target, &amd64(), Arc::new(MemoryStore::new())).await.unwrap();
    assert_eq!(pulled.descriptor.digest, desc.digest);
    assert!(!format!("{client:?}").contains(PASSWORD));

    // Wrong password: a clear error naming registry and user, never the password.
    let wrong = builder()
        .auth(
            AuthConfig::anonymous()
                .with_credentials(reg.host(), Credentials::basic("alice", "not-the-s3cret")),
        )
        .build()
        .unwrap();
    let e = wrong.pull(&target, &amd64(), Arc::new(MemoryStore::new())).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Unauthorized { .. }), "{msg}");
    assert!(msg.contains(reg.host()) && msg.contains("alice"), "{msg}");
    assert!(
        !msg.contains("not-the-s3cret") && !format!("{e:?}").contains("not-the-s3cret"),
        "{msg}"
    );

    // No credentials at all.
    let anon = builder().build().unwrap();
    let e = anon.tags(&target).await.unwrap_err();
    assert!(e.to_string().contains("no credentials configured"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_protocol() {
    require_registry!();
    let reg =
        TestRegistry::start(RegistryAuth::Htpasswd(vec![("helperuser".into(), PASSWORD.into())]))
            .unwrap();
    let (dir, store, desc) = image(1, 10_000, 4);
    let bin = fast_tempdir("mbi-helper-bin-").unwrap();
    let log = bin.path().join("calls.log");
    let script = bin.path().join("docker-credential-mbitest");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\necho \"$server\" >> {log}\nif [ \"$server\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"helperuser\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            log = log.display(),
            host = reg.host()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    // credHelpers for this registry.
    let cfg =
        write_config(dir.path(), &format!(r#"{{"credHelpers":{{"{}":"mbitest"}}}}"#, reg.host()));
    let auth =
        AuthConfig::anonymous().with_auth_file(&cfg).with_helper_path(bin.path().as_os_str());
    let client = builder().auth(auth.clone()).build().unwrap();
    let target: Reference = format!("{}/helped/app:v1", reg.host()).parse().unwrap();
    client.push(store.clone(), &desc, &target).await.unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().next(), Some(reg.host()));
    // Unknown registry: helper says "not found" → anonymous.
    assert_eq!(auth.resolve("other.test:1", "x").unwrap(), None);

    // credsStore applies to every registry.
    let cfg2 = dir.path().join("store.json");
    std::fs::write(&cfg2, r#"{"credsStore":"mbitest"}"#).unwrap();
    let auth2 =
        AuthConfig::anonymous().with_auth_file(&cfg2).with_helper_path(bin.path().as_os_str());
    assert_eq!(
        auth2.resolve(reg.host(), "x").unwrap(),
        Some(Credentials::basic("helperuser", PASSWORD))
    );
    // A helper that is not installed is a clear error.
    let cfg3 = dir.path().join("missing.json");
    std::fs::write(&cfg3, r#"{"credsStore":"absent"}"#).unwrap();
    let e = AuthConfig::anonymous()
        .with_auth_file(&cfg3)
        .with_helper_path(bin.path().as_os_str())
        .resolve("r", "x")
        .unwrap_err();
    assert!(e.to_string().contains("docker-credential-absent"), "{e}");
}

fn token_config(key_header: KeyHeader) -> TokenConfig {
    TokenConfig {
        users: vec![User {
            name: "alice".into(),
            password: PASSWORD.into(),
            grants: vec![Grant::new("team/*", &["pull", "push"])],
            catalog: true,
        }],
        anonymous: vec![Grant::new("public/*", &["pull"])],
        key_header,
        ttl: std::time::Duration::from_secs(300),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_requests_minimal_scopes() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Token(token_config(KeyHeader::X5c))).unwrap();
    let ts = reg.token_server().unwrap();
    let (_dir, store, desc) = image(2, 40_000, 5);
    let auth =
        AuthConfig::anonymous().with_credentials(reg.host(), Credentials::basic("alice", PASSWORD));

    // Push: pull+push on the target only.
    let client = builder().auth(auth.clone()).build().unwrap();
    let target: Reference = format!("{}/team/app:v1", reg.host()).parse().unwrap();
    client.push(store.clone(), &desc, &target).await.unwrap();
    let reqs = ts.requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_eq!(r.scopes, vec!["repository:team/app:pull,push".to_owned()], "{r:?}");
        assert_eq!(r.account.as_deref(), Some("alice"));
        assert_eq!(r.method, "GET");
    }

    // Pull with a fresh client: pull only.
    ts.clear_log();
    let puller = builder().auth(auth.clone()).build().unwrap();
    puller.pull(&target, &amd64(), Arc::new(MemoryStore::new())).await.unwrap();
    for r in ts.requests() {
        assert_eq!(r.scopes, vec!["repository:team/app:pull".to_owned()], "{r:?}");
    }

    // Copy inside the registry: the mount asks for pull+push on the target and pull on the
    // source, in one token; sources are read with pull only.
    ts.clear_log();
    let copier = builder().auth(auth).build().unwrap();
    let dst: Reference = format!("{}/team/copy:v1", reg.host()).parse().unwrap();
    let copied = copier.copy(&target, &dst, &amd64()).await.unwrap();
    assert_eq!(copied.blobs.mounted, 3, "{copied:?}");
    let scopes: Vec<Vec<String>> = ts.requests().into_iter().map(|r| r.scopes).collect();
    for s in &scopes {
        assert!(
            *s == vec!["repository:team/app:pull".to_owned()]
                || *s
                    == vec![
                        "repository:team/copy:pull,push".to_owned(),
                        "repository:team/app:pull".to_owned()
                    ]
                || *s == vec!["repository:team/copy:pull,push".to_owned()],
            "unexpected scopes {s:?}"
        );
    }
    assert!(scopes.iter().any(|s| s.len() == 2), "{scopes:?}");
    assert_eq!(copier.resolve(&dst).await.unwrap().digest, desc.digest);

    // Anonymous clients get only what anonymous users are granted: a clear error.
    let anon = builder().build().unwrap();
    let e = anon.pull(&target, &amd64(), Arc::new(MemoryStore::new())).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    // Wrong password at the token server.
    let wrong = builder()
        .auth(
            AuthConfig::anonymous()
                .with_credentials(reg.host(), Credentials::basic("alice", "wrong-s3cret")),
        )
        .build()
        .unwrap();
    let e = wrong.tags(&target).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Unauthorized { .. })
            && msg.contains("alice")
            && msg.contains("token server"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_kid_oauth2_refresh_and_identity_token() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Token(token_config(KeyHeader::Kid))).unwrap();
    let ts = reg.token_server().unwrap();
    let (dir, store, desc) = image(1, 20_000, 6);
    let auth =
        AuthConfig::anonymous().with_credentials(reg.host(), Credentials::basic("alice", PASSWORD));
    let client = builder().auth(auth).oauth2_password_grant(true).build().unwrap();
    let a: Reference = format!("{}/team/a:v1", reg.host()).parse().unwrap();
    let b: Reference = format!("{}/team/b:v1", reg.host()).parse().unwrap();
    client.push(store.clone(), &desc, &a).await.unwrap();
    client.push(store.clone(), &desc, &b).await.unwrap();
    let grants: Vec<Option<String>> = ts.requests().into_iter().map(|r| r.grant_type).collect();
    assert_eq!(grants.first(), Some(&Some("password".to_owned())), "{grants:?}");
    assert!(grants.iter().skip(1).all(|g| g.as_deref() == Some("refresh_token")), "{grants:?}");
    assert!(grants.len() >= 2);

    // A refresh token stored as docker's identitytoken.
    // (Plain HTTP/1.0 by hand: the token server is on loopback.)
    let realm: url::Url = ts.realm().parse().unwrap();
    let mut conn =
        std::net::TcpStream::connect((realm.host_str().unwrap(), realm.port().unwrap())).unwrap();
    let form = format!(
        "grant_type=password&username=alice&password={}&service=mbi-test-registry&scope=&access_type=offline&client_id=test",
        urlencode(PASSWORD)
    );
    write!(conn, "POST /token HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}", form.len()).unwrap();
    let mut raw = String::new();
    std::io::Read::read_to_string(&mut conn, &mut raw).unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    let reply: serde_json::Value = serde_json::from_str(body).unwrap();
    let refresh = reply["refresh_token"].as_str().unwrap().to_owned();
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"{{"auths":{{"{}":{{"auth":"{}","identitytoken":"{refresh}"}}}}}}"#,
            reg.host(),
            b64("<token>:")
        ),
    );
    ts.clear_log();
    let idc = builder().auth(AuthConfig::anonymous().with_auth_file(&cfg)).build().unwrap();
    assert_eq!(idc.tags(&a).await.unwrap(), vec!["v1".to_owned()]);
    let reqs = ts.requests();
    assert!(
        reqs.iter().all(|r| r.grant_type.as_deref() == Some("refresh_token")
            && r.account.as_deref() == Some("alice")),
        "{reqs:?}"
    );
    // Catalog needs the registry:catalog:* scope.
    assert_eq!(
        idc.catalog(reg.host()).await.unwrap(),
        vec!["team/a".to_owned(), "team/b".to_owned()]
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Captures everything logged through `tracing` while a basic-auth push and a failing pull run.
#[tokio::test(flavor = "current_thread")]
async fn secrets_never_reach_logs() {
    require_registry!();
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let w = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || w.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let reg = TestRegistry::start(RegistryAuth::Htpasswd(vec![("alice".into(), PASSWORD.into())]))
        .unwrap();
    let (_dir, store, desc) = image(1, 10_000, 7);
    let target: Reference = format!("{}/x/app:v1", reg.host()).parse().unwrap();
    let client = builder()
        .auth(
            AuthConfig::anonymous()
                .with_credentials(reg.host(), Credentials::basic("alice", PASSWORD)),
        )
        .build()
        .unwrap();
    client.push(store, &desc, &target).await.unwrap();
    let bad = builder()
        .auth(
            AuthConfig::anonymous()
                .with_credentials(reg.host(), Credentials::basic("alice", "other-s3cret")),
        )
        .build()
        .unwrap();
    let e = bad.pull(&target, &amd64(), Arc::new(MemoryStore::new())).await.unwrap_err();
    tracing::error!("final error: {e} / {e:?}");
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("final error"), "the capture works");
    for secret in [PASSWORD, "other-s3cret", &b64(&format!("alice:{PASSWORD}"))] {
        assert!(!logs.contains(secret), "secret {secret:?} leaked into logs");
    }
}
