//! crm-storage's tests that need more than one process, in one binary with its own harness
//! (`harness = false`): each child is this binary run again, with an environment variable
//! naming its part.
//!
//! - [`crash`]: bulk import killed with SIGKILL again and again, on SQLite and PostgreSQL.
//! - [`open_race`]: processes opening one new SQLite file at the same moment.
//! - [`shared_writes`]: a bulk importer and an editor writing one SQLite file.

mod crash;
mod open_race;
mod shared_writes;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    if crash::as_child(&rt) || open_race::as_child(&rt) || shared_writes::as_child(&rt) {
        return;
    }
    open_race::run(&rt);
    shared_writes::run(&rt);
    crash::run(&rt);
}
