// ai-stat — live updates. Every open page of a signed-in user follows
// changes to their profile and role, and the admin page follows every user,
// without a reload. Pages work without this script.
//
// Browsers open at most six HTTP/1.1 connections to one host, so one event
// stream per tab would keep a seventh tab from loading. One tab of the
// browser, the leader, holds the Web Lock "aistat-events", opens the one
// stream and relays its events to the other tabs over a BroadcastChannel;
// when it closes, the lock and the stream pass to another tab.

import { applyChange, updateUserRow, removeUserRow, refreshUsers } from './app.js';

const NAME = 'aistat-events';
const SIGNED_OUT = '/login?signed_out=1';
// The events the server sends; "resync" stays with the leader, which
// turns it into the events below.
const SERVER_EVENTS = ['profile', 'user', 'user_deleted', 'logout', 'resync'];
// EventSource reconnects by itself after a network error, but gives up on
// an error status (401, 429, 503): the leader then tries again with these
// delays, doubling.
const RETRY_FIRST_MS = 5000;
const RETRY_MAX_MS = 60000;

const onAdminPage = window.location.pathname === '/admin';
// The role the server rendered this page for, from the header's badge.
const roleBadge = document.querySelector('[data-user-role]');
const pageRole = roleBadge ? roleBadge.dataset.userRole : '';
let leaving = false;

function leave(go) {
  leaving = true;
  go();
}

// show applies one event to this page. Besides the server's events it
// gets "stale": events may have been missed, lists must be loaded again.
function show(type, data) {
  if (leaving || !data) {
    return;
  }
  switch (type) {
    case 'profile':
      applyChange(data);
      // The admin page differs by role (editors read, admins act, others
      // may not see it): the server renders it again for the new role.
      if (onAdminPage && data.role !== pageRole) {
        leave(() => window.location.reload());
      }
      break;
    case 'user':
      updateUserRow(data);
      break;
    case 'user_deleted':
      removeUserRow(data.id);
      break;
    case 'stale':
      refreshUsers();
      break;
    case 'logout':
      leave(() => window.location.assign(signedOutURL(data.reason)));
      break;
  }
}

// signedOutURL is where a logout sends the page: the sign-in page with
// the reason the logout event gave ({"reason": ...}). Which reasons there
// are and what the page says of each is the server's: it shows only those
// it knows.
function signedOutURL(reason) {
  return typeof reason === 'string' && reason !== '' ? '/login?signed_out=' + encodeURIComponent(reason) : SIGNED_OUT;
}

let syncing = false;
let syncAgain = false;
// profileEvents counts the profile events the stream delivered, so that a
// resync answered after one of them does not put back an older profile.
let profileEvents = 0;

// resync asks the server for the current user once, after events may have
// been lost, and sends what it learns as events. It runs once the stream
// is open, so every change committed after the answer was read comes as
// an event too: when one arrives while the answer is on its way, the
// answer may be older than it and is not shown.
async function resync(send) {
  if (syncing) {
    syncAgain = true;
    return;
  }
  syncing = true;
  try {
    do {
      syncAgain = false;
      const seen = profileEvents;
      let response;
      let body = null;
      try {
        response = await fetch('/api/session', {
          credentials: 'same-origin',
          cache: 'no-store',
          headers: { Accept: 'application/json' },
        });
        body = await response.json();
      } catch {
        // Offline: the stream's reconnect brings another resync.
        return;
      }
      if (response.status === 401) {
        send('logout', {});
        return;
      }
      if (response.ok && body && body.user) {
        if (profileEvents === seen) {
          send('profile', body.user);
        }
        send('stale', {});
      }
    } while (syncAgain);
  } finally {
    syncing = false;
  }
}

// connect opens the event stream and hands its events to send. Every
// opening resyncs, the first one too: a change committed after the page was
// rendered and announced before the stream was open reached no stream of
// this browser, and a reconnect or a tab taking over from another leader
// may have missed events as well.
//
// It returns what stops it: the stream is closed and no retry follows.
function connect(send) {
  let delay = RETRY_FIRST_MS;
  let source = null;
  let retry = 0;
  let stopped = false;

  function open() {
    if (leaving || stopped) {
      return;
    }
    source = new EventSource('/api/events');
    source.addEventListener('open', () => {
      delay = RETRY_FIRST_MS;
      resync(send);
    });
    SERVER_EVENTS.forEach((type) => {
      source.addEventListener(type, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        if (type === 'resync') {
          resync(send);
          return;
        }
        if (type === 'profile') {
          profileEvents++;
        }
        if (type === 'logout') {
          source.close();
        }
        send(type, data);
      });
    });
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) {
        return;
      }
      // Refused: a 401 shows as a logout through the resync; anything
      // else (too many streams, a restarting server) is tried again later.
      resync(send);
      retry = window.setTimeout(open, delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    });
  }
  open();
  return () => {
    stopped = true;
    window.clearTimeout(retry);
    if (source) {
      source.close();
    }
  };
}

// start follows the events: alone, or sharing one stream with the other
// tabs. It returns what stops it: the stream closed, the lock given up or
// no longer waited for.
function start() {
  if (!navigator.locks || typeof window.BroadcastChannel !== 'function') {
    return connect(show);
  }

  let stopped = false;
  let stopLeading = null;
  let release = null;
  const inLine = new AbortController();
  const channel = new BroadcastChannel(NAME);
  channel.addEventListener('message', (event) => {
    const message = event.data;
    if (message && typeof message.type === 'string') {
      show(message.type, message.data);
    }
  });

  // relay passes an event to the other tabs first, since showing it here may
  // leave the page.
  function relay(type, data) {
    channel.postMessage({ type, data });
    show(type, data);
  }

  // lead opens the stream for the whole browser; the lock is held until the
  // promise it returns settles, when the page stops following.
  function lead() {
    if (stopped) {
      return undefined;
    }
    stopLeading = connect(relay);
    return new Promise((resolve) => {
      release = resolve;
    });
  }

  navigator.locks.request(NAME, { ifAvailable: true }, (lock) => {
    if (lock) {
      return lead();
    }
    // Another tab leads; this one waits in line to take over.
    navigator.locks.request(NAME, { signal: inLine.signal }, () => lead()).catch(() => {});
    return undefined;
  });

  return () => {
    stopped = true;
    inLine.abort();
    if (stopLeading) {
      stopLeading();
    }
    if (release) {
      release();
    }
    channel.close();
  };
}

// Signed-in pages only (they show the user's name), in browsers that can.
if (typeof window.EventSource === 'function' && typeof window.fetch === 'function' &&
  document.querySelector('[data-user-name]')) {
  let stop = start();
  // A page the browser keeps in its back/forward cache after the person
  // moved on must not keep the stream or the lock: the other tabs would
  // wait for it. Restored, it follows again, and its first opening
  // resyncs what it missed.
  window.addEventListener('pagehide', () => stop());
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) {
      stop = start();
    }
  });
}
