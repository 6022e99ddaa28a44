//! No waiting inside a plugin call. WASI's `wasi:io/poll` (`poll`, `pollable.block`) blocks the
//! calling thread in host code, where neither fuel nor the epoch deadline can reach it: a
//! plugin sleeping in `check` would hold its tenant's write for as long as it liked. Here a
//! wait whose pollables are already ready answers at once, as WASI says; any other wait stops
//! the call with [`PluginFailure::Waited`](crate::PluginFailure::Waited) instead of blocking.
//! Nothing a plugin legitimately does in a call waits: stderr is a memory pipe, stdin is
//! empty, sockets and name lookups are not offered.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
pub(crate) use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;

/// The error a refused wait traps with (recognised when the failure is classified).
#[derive(Debug)]
pub(crate) struct WouldWait;

impl std::fmt::Display for WouldWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin tried to wait (a sleep or a poll on something not ready)")
    }
}

impl std::error::Error for WouldWait {}

/// The resource table, seen through the waits' rules.
pub(crate) struct NoWait<'a>(pub(crate) &'a mut ResourceTable);

/// The waits' view of a store, for `add_to_linker`.
pub(crate) struct HasNoWait;

impl HasData for HasNoWait {
    type Data<'a> = NoWait<'a>;
}

/// Polls `wait` once: its answer if it has one now, else the refusal.
fn at_once<T>(wait: impl Future<Output = wasmtime::Result<T>>) -> wasmtime::Result<T> {
    wasmtime_wasi::runtime::in_tokio(async move {
        let mut wait = pin!(wait);
        match std::future::poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx))).await {
            Poll::Ready(answer) => answer,
            Poll::Pending => Err(wasmtime::Error::new(WouldWait)),
        }
    })
}

impl sync_poll::Host for NoWait<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        at_once(async_poll::Host::poll(self.0, pollables))
    }
}

impl sync_poll::HostPollable for NoWait<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        at_once(async_poll::HostPollable::ready(self.0, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        at_once(async_poll::HostPollable::block(self.0, pollable))
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.0, pollable)
    }
}
