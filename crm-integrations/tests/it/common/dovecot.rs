//! A throw-away Dovecot IMAP server on 127.0.0.1 (Debian `dovecot-imapd`, installed by
//! `scripts/test.sh`): its own config, Maildirs and run directory in a temp dir; killed on drop.
//!
//! Users log in with any name and [`PASSWORD`] (LOGIN/PLAIN), or with XOAUTH2 when the
//! server is started with an OAuth2 introspection URL (Dovecot asks that URL whether a token
//! is active and whose it is). Plain IMAP on `port`, implicit TLS on `tls_port` with a
//! certificate for `localhost` ([`Dovecot::cert_pem`]).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "imap-secret";

pub struct Dovecot {
    child: Child,
    pub port: u16,
    pub tls_port: u16,
    pub cert_pem: String,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Dovecot {
    pub fn start(introspection_url: Option<&str>) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Mail processes run as nobody when we are root (Dovecot refuses root), else as us.
        let root = id("-u") == "0";
        let (uid, gid, users) = if root {
            ("65534".to_owned(), "65534".to_owned(), String::new())
        } else {
            let user = id("-un");
            let group = id("-gn");
            (
                id("-u"),
                id("-g"),
                format!(
                    "default_internal_user = {user}\ndefault_internal_group = {group}\ndefault_login_user = {user}\n"
                ),
            )
        };
        set_mode(&d.join("mail"), 0o777);
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let (port, tls_port) = (free_port(), free_port());
        let oauth = match introspection_url {
            Some(url) => {
                std::fs::write(
                    d.join("oauth2.conf.ext"),
                    format!(
                        "introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\n\
                         active_attribute = active\nactive_value = true\n"
                    ),
                )
                .unwrap();
                format!(
                    "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2\n  args = {}\n}}\n",
                    d.join("oauth2.conf.ext").display()
                )
            }
            None => String::new(),
        };
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {run}\nstate_dir = {state}\nlog_path = {log}\n\
             info_log_path = {log}\n{users}ssl = yes\nssl_cert = <{dir}/cert.pem\nssl_key = <{dir}/key.pem\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login xoauth2\nfirst_valid_uid = 1\n\
             mail_location = maildir:{dir}/mail/%u\n{oauth}\
             passdb {{\n  driver = static\n  mechanisms = plain login\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={dir}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
               inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\nservice stats {{\n  chroot =\n}}\n",
            run = d.join("run").display(),
            state = d.join("state").display(),
            log = d.join("dovecot.log").display(),
            dir = d.display(),
        );
        let conf_file = d.join("dovecot.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let bin = if std::path::Path::new("/usr/sbin/dovecot").exists() { "/usr/sbin/dovecot" } else { "dovecot" };
        let child = Command::new(bin)
            .arg("-F")
            .arg("-c")
            .arg(&conf_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dovecot runs (scripts/test.sh installs dovecot-imapd)");
        let server = Dovecot { child, port, tls_port, cert_pem: cert.cert.pem(), dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() || TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
            assert!(Instant::now() < deadline, "dovecot did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// A user's INBOX (a Maildir), created world-writable for the server's mail processes.
    pub fn inbox(&self, user: &str) -> PathBuf {
        let p = self.dir.path().join("mail").join(user);
        for sub in ["", "cur", "new", "tmp"] {
            std::fs::create_dir_all(p.join(sub)).unwrap();
            set_mode(&p.join(sub), 0o777);
        }
        p
    }

    /// Drops a raw message straight into a user's INBOX (as a local delivery agent would).
    pub fn deliver(&self, user: &str, name: &str, raw: &[u8]) {
        let p = self.inbox(user).join("new").join(name);
        std::fs::write(&p, raw).unwrap();
        set_mode(&p, 0o666);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
