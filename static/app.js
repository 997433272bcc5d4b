// ai-stat — progressive enhancement. Every page works without this module;
// it hides broken avatars, saves the profile in place, and exports the
// functions that show a change on the page (live.js imports them). Times
// are the server's, in the reader's language and time zone.
//
// What a page shows of a user that the server computes (the role's label,
// the initials, whether the user is staff) comes from the user's JSON
// (roleLabel, initials, staff) and from the page's data- attributes, never
// from a copy of the server's rules here. The elements it updates are
// found by their data- attributes, not by the page's markup.

// Avatars -----------------------------------------------------------------

function isAvatarImage(node) {
  return node instanceof HTMLImageElement && node.closest('.avatar') !== null;
}

function hideImage(img) {
  img.hidden = true;
}

function watchBrokenAvatars() {
  document.addEventListener('error', (event) => {
    if (isAvatarImage(event.target)) {
      hideImage(event.target);
    }
  }, true);
}

// hideBrokenAvatars hides the avatars that failed before the module ran.
function hideBrokenAvatars() {
  document.querySelectorAll('.avatar img').forEach((img) => {
    if (img.complete && img.naturalWidth === 0) {
      hideImage(img);
    }
  });
}

// AVATAR_PATH is the address of a picture stored by the site,
// /avatars/<hash>.jpg, which a profile's avatarUrl may hold.
const AVATAR_PATH = /^\/avatars\/[0-9a-f]{64}\.jpg$/;

// smallAvatar is the address of url's picture for a small circle: a
// stored picture's 64-pixel copy (aistat.SmallAvatarURL on the server),
// any other address as it is.
function smallAvatar(url) {
  return AVATAR_PATH.test(url) ? url + '?size=64' : url;
}

function isWebURL(value) {
  if (AVATAR_PATH.test(value)) {
    return true;
  }
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

// setAvatar shows initials in an .avatar wrapper and, when url is a web
// address, an image stacked over them. Initials left undefined stay as
// they are: only the server knows them for a name.
function setAvatar(wrapper, url, initials) {
  const initialsEl = wrapper.querySelector('.avatar-initials');
  if (initialsEl && typeof initials === 'string') {
    initialsEl.textContent = initials;
  }
  const current = wrapper.querySelector('img');
  const chosen = wrapper.querySelector('canvas');
  if (chosen) {
    // A picture chosen and not yet sent gives way to the saved one.
    chosen.remove();
  }
  if (!url || !isWebURL(url)) {
    if (current) {
      current.remove();
    }
    return;
  }
  const size = wrapper.classList.contains('avatar-lg') ? 64 : 32;
  if (size === 32) {
    url = smallAvatar(url);
  }
  if (current && current.getAttribute('src') === url) {
    return;
  }
  const img = document.createElement('img');
  img.alt = '';
  img.width = size;
  img.height = size;
  img.referrerPolicy = 'no-referrer';
  img.addEventListener('error', () => hideImage(img));
  img.src = url;
  if (current) {
    current.replaceWith(img);
  } else {
    wrapper.append(img);
  }
}

// Header ------------------------------------------------------------------

// setAdminLink shows or hides the header's link to the admin page; a user
// made staff gets one, named as the header's list says (data-admin-label).
function setAdminLink(show) {
  let link = document.querySelector('[data-admin-link]');
  if (!link && show) {
    const list = document.querySelector('[data-admin-label]');
    const signOut = list && list.querySelector('[data-sign-out]');
    if (!signOut) {
      return;
    }
    const item = document.createElement('li');
    link = document.createElement('a');
    link.className = 'nav-link';
    link.href = '/admin';
    link.textContent = list.dataset.adminLabel;
    link.setAttribute('data-admin-link', '');
    item.append(link);
    signOut.before(item);
  }
  if (link) {
    (link.closest('li') || link).hidden = !show;
  }
}

// setRoleBadge shows role in a .role badge: its label and its colour.
function setRoleBadge(el, role, label) {
  el.textContent = label;
  Array.from(el.classList)
    .filter((name) => name.startsWith('role-'))
    .forEach((name) => el.classList.remove(name));
  el.classList.add('role', 'role-' + role);
}

// syncProfileForm is set on the settings page: it brings the profile form
// up to date with a change made elsewhere.
let syncProfileForm = null;

// roleLabel is the role's label in the page's language, which the page
// holds (data-role-label-<role> on the body); the JSON's label, in the
// reader's language, only when the page has none.
function roleLabel(user) {
  const role = String(user.role || '');
  return String(document.body.getAttribute('data-role-label-' + role) || user.roleLabel || role);
}

// applyUser updates every place the page shows the signed-in user, from
// the user's JSON form: {id, email, name, role, avatarUrl, roleLabel,
// initials, staff, locale}. Its promise says whether the page changed
// language for it.
function applyUser(user) {
  if (!user) {
    return;
  }
  // A language chosen elsewhere (another tab, another device) that this
  // page is not in: the page takes the server's words for it in place.
  const pageLang = document.documentElement.lang;
  if (translating || (typeof user.locale === 'string' && pageLang && user.locale !== pageLang)) {
    return translatePage(user);
  }
  showUser(user);
  return Promise.resolve(false);
}

// showUser puts the user's fields into the page, in the page's language.
function showUser(user) {
  const role = String(user.role || '');
  const label = roleLabel(user);
  const initials = user.initials;

  document.querySelectorAll('[data-user-name]').forEach((el) => {
    el.textContent = user.name;
  });
  document.querySelectorAll('[data-user-email]').forEach((el) => {
    el.textContent = user.email;
  });
  document.querySelectorAll('[data-user-role-label]').forEach((el) => {
    el.textContent = label;
  });
  document.querySelectorAll('[data-user-role]').forEach((el) => {
    setRoleBadge(el, role, label);
    el.dataset.userRole = role;
  });
  document.querySelectorAll('[data-user-avatar]').forEach((wrapper) => {
    setAvatar(wrapper, user.avatarUrl, initials);
  });
  setAdminLink(user.staff === true);
  document.querySelectorAll('[data-avatar-remove]').forEach((el) => {
    el.hidden = !user.avatarUrl;
  });
  if (syncProfileForm) {
    syncProfileForm(user);
  }
}

// Announcements -----------------------------------------------------------

// ownSaves counts this tab's profile saves under way: the change they make
// comes back as an event too, and the tab said "saved" already.
let ownSaves = 0;

// changesOf names what user changes of the profile the page shows (the
// header's), as the live region's data-live-<change> keys.
function changesOf(user) {
  const changes = [];
  const name = document.querySelector('[data-user-name]');
  if (name && typeof user.name === 'string' && name.textContent !== user.name) {
    changes.push('name');
  }
  const avatar = document.querySelector('[data-user-avatar]');
  if (avatar && typeof user.avatarUrl === 'string') {
    const img = avatar.querySelector('img');
    if ((img ? img.getAttribute('src') : '') !== user.avatarUrl) {
      changes.push('avatar');
    }
  }
  const role = document.querySelector('[data-user-role]');
  if (role && typeof user.role === 'string' && role.dataset.userRole !== user.role) {
    changes.push('role-' + user.role);
  }
  return changes;
}

// announce says the changes in the page's live region, in the page's
// words (its data-live-<change>), once the page shows them.
function announce(changes) {
  const region = document.getElementById('live-region');
  if (!region || changes.length === 0) {
    return;
  }
  const words = changes
    .map((change) => region.getAttribute('data-live-' + change))
    .filter((sentence) => sentence);
  // Emptied first, so that the same sentence twice is said twice.
  region.textContent = '';
  window.setTimeout(() => {
    region.textContent = words.join(' ');
  }, 100);
}

// applyChange shows a change of the profile that reached this page from
// elsewhere (another tab, another device, an admin) and says what changed
// to screen readers; a change this tab's own save made is only shown.
export function applyChange(user) {
  if (!user) {
    return Promise.resolve(false);
  }
  const changes = ownSaves > 0 ? [] : changesOf(user);
  const done = applyUser(user);
  done.then(() => announce(changes));
  return done;
}

// Language ----------------------------------------------------------------

// translating is the page's change of language under way, and latestUser
// the last profile that arrived meanwhile: the page read for the new
// language may be older than it.
let translating = null;
let latestUser = null;

// translatePage shows the page in the language of user.locale without
// reloading it: the server renders the same address again in that
// language (it holds every word), and the new body takes the place of the
// old one, with what the person had typed into its fields. The promise
// says whether the page changed; when it cannot (offline, the address
// answers no page), the page stays as it is until the next one.
function translatePage(user) {
  latestUser = user;
  if (translating) {
    return translating;
  }
  // A page that shows something once (a reset link) would not show it
  // again: it keeps its language until the person moves on.
  if (document.querySelector('[data-shown-once]')) {
    showUser(user);
    return Promise.resolve(false);
  }
  translating = (async () => {
    let response;
    let html;
    try {
      response = await fetch(window.location.href, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { Accept: 'text/html' },
      });
      html = await response.text();
    } catch {
      return false;
    }
    if (!response.ok || response.redirected) {
      return false;
    }
    const fresh = new DOMParser().parseFromString(html, 'text/html');
    if (!fresh.body || fresh.documentElement.lang !== user.locale) {
      return false;
    }
    const focused = document.activeElement && document.activeElement.id;
    carryEdits(document.body, fresh.body);
    document.documentElement.lang = fresh.documentElement.lang;
    document.title = fresh.title;
    Array.from(fresh.body.attributes).forEach((attr) => document.body.setAttribute(attr.name, attr.value));
    document.body.replaceChildren(...Array.from(fresh.body.childNodes));
    initPage();
    const again = focused && document.getElementById(focused);
    if (again) {
      again.focus();
    }
    return true;
  })();
  const done = translating;
  done.finally(() => {
    translating = null;
    showUser(latestUser);
  });
  return done;
}

// carryEdits puts what the person typed or chose in the old page's fields
// into the same fields (by id) of the new one.
function carryEdits(from, to) {
  from.querySelectorAll('input[id], textarea[id], select[id]').forEach((field) => {
    if (!isChanged(field) || field.type === 'password' || field.type === 'hidden') {
      return;
    }
    const twin = to.querySelector('#' + CSS.escape(field.id));
    if (twin && twin.tagName === field.tagName && twin.type === field.type) {
      twin.value = field.value;
    }
  });
}

// isChanged reports a field that differs from what the page gave it or
// last received; a select keeps its default in its options.
function isChanged(input) {
  if (input instanceof HTMLSelectElement) {
    return Array.from(input.options).some((option) => option.selected !== option.defaultSelected);
  }
  if (input.type === 'checkbox' || input.type === 'radio') {
    return input.checked !== input.defaultChecked;
  }
  return input.value !== input.defaultValue;
}

// Forms -------------------------------------------------------------------

// focusErrorSummary moves the focus to the error summary of a form the
// server refused, so that the person starts from what to fix. The summary
// carries autofocus too; this covers a body put in place by a change of
// language, which autofocus does not reach.
function focusErrorSummary() {
  const summary = document.querySelector('[data-error-summary]:not([hidden])');
  if (summary && summary.querySelector('li')) {
    summary.focus();
  }
}

// showErrorSummary fills a form's error summary with items, each
// { field, message }: a link to the field with id field, or plain text
// without one, and focuses it; no items hide it.
function showErrorSummary(summary, items) {
  const list = summary.querySelector('ul');
  list.replaceChildren(...items.map(({ field, message }) => {
    const li = document.createElement('li');
    if (field) {
      const a = document.createElement('a');
      a.href = '#' + field;
      a.textContent = message;
      li.append(a);
    } else {
      li.textContent = message;
    }
    return li;
  }));
  summary.hidden = items.length === 0;
  if (items.length > 0) {
    summary.focus();
  }
}

// A link of an error summary focuses its field, where a bare fragment
// would only scroll to it.
function watchSummaryLinks() {
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('[data-error-summary] a[href^="#"]') : null;
    const field = link ? document.getElementById(link.getAttribute('href').slice(1)) : null;
    if (field) {
      event.preventDefault();
      field.focus();
      field.scrollIntoView({ block: 'center' });
    }
  });
}

// addPasswordToggles puts a show-password button after every password
// field that names its words (data-reveal): without this module the field
// is a plain password field.
function addPasswordToggles() {
  document.querySelectorAll('input[type="password"][data-reveal]').forEach((input) => {
    if (!input.id || input.nextElementSibling?.matches('[data-password-toggle]')) {
      return;
    }
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button button-secondary button-small password-toggle';
    button.dataset.passwordToggle = '';
    button.textContent = input.dataset.reveal;
    button.setAttribute('aria-controls', input.id);
    button.setAttribute('aria-pressed', 'false');
    button.addEventListener('click', () => {
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      button.setAttribute('aria-pressed', String(show));
    });
    // A password shown must not stay so in the page a form's sending
    // leaves in the browser's history.
    input.form?.addEventListener('submit', () => {
      input.type = 'password';
      button.setAttribute('aria-pressed', 'false');
    });
    const wrap = document.createElement('div');
    wrap.className = 'password-row';
    input.replaceWith(wrap);
    wrap.append(input, button);
  });
}

// addCopyButtons shows the Copy buttons (data-copy names the field whose
// text they copy) where the browser lets a page write to the clipboard;
// without this module the field is there to select and copy by hand.
function addCopyButtons() {
  if (!navigator.clipboard || typeof navigator.clipboard.writeText !== 'function') {
    return;
  }
  document.querySelectorAll('button[data-copy]').forEach((button) => {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.copyStatus);
    if (!field || button.dataset.copyReady === '') {
      return;
    }
    button.dataset.copyReady = '';
    button.hidden = false;
    button.addEventListener('click', async () => {
      let message = button.dataset.textCopied;
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        // Selected, the text is one keystroke from the clipboard.
        field.select();
        message = button.dataset.textCopyFailed;
      }
      if (status) {
        status.textContent = message;
        fadeLater(status);
      }
    });
  });
}

// MESSAGE_LIFETIME is how long a success message stays.
const MESSAGE_LIFETIME = 6000;

// fadeLater lets a success message go after a while: it said what it
// had to, and a page left open should not say "saved" for ever. The
// element stays, empty, so its live region keeps working.
function fadeLater(el) {
  clearTimeout(el.fadeTimer);
  el.classList.remove('is-fading');
  el.fadeTimer = setTimeout(() => {
    el.classList.add('is-fading');
    el.fadeTimer = setTimeout(() => {
      el.textContent = '';
      el.classList.remove('is-fading');
      delete el.dataset.state;
      el.closest('.flash-wrap')?.remove();
    }, 600);
  }, MESSAGE_LIFETIME);
}

// fadeSavedFlash lets the settings page's flash go: after a save without
// fetch it says "Profile saved." as the status beside Save does after one
// with it. The other pages' flashes say what an action did and stay.
function fadeSavedFlash() {
  if (document.getElementById('profile-form')) {
    document.querySelectorAll('.flash-wrap .flash').forEach(fadeLater);
  }
}

// Settings ----------------------------------------------------------------

// FIELD_NAMES maps the API's JSON field names to the form's field names.
const FIELD_NAMES = { name: 'name', avatarUrl: 'avatar_url', locale: 'locale', timeZone: 'time_zone' };

// announceSaved says on a page just put in place that its profile was
// saved, in the new page's words, and keeps the focus on its Save.
function announceSaved() {
  const form = document.getElementById('profile-form');
  const status = document.getElementById('profile-status');
  if (!form || !status) {
    return;
  }
  status.textContent = form.dataset.textSaved;
  status.dataset.state = 'success';
  fadeLater(status);
  const button = form.querySelector('[type="submit"]');
  if (button) {
    button.focus();
  }
}

// AVATAR_CHECK_TIMEOUT is how long a picture may take to load before the
// settings page says it does not.
const AVATAR_CHECK_TIMEOUT = 8000;

// imageLoads reports whether the picture at url loads; no address is no
// picture, which is fine.
function imageLoads(url) {
  if (!url) {
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const img = new Image();
    const timer = setTimeout(() => resolve(false), AVATAR_CHECK_TIMEOUT);
    img.referrerPolicy = 'no-referrer';
    img.addEventListener('load', () => {
      clearTimeout(timer);
      resolve(true);
    });
    img.addEventListener('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    img.src = url;
  });
}

function initProfileForm() {
  syncProfileForm = null;
  const form = document.getElementById('profile-form');
  if (!form || typeof window.fetch !== 'function') {
    return;
  }
  const status = document.getElementById('profile-status');
  const button = form.querySelector('[type="submit"]');
  const inputs = {
    name: form.elements.namedItem('name'),
    avatar_url: form.elements.namedItem('avatar_url'),
    locale: form.elements.namedItem('locale'),
    time_zone: form.elements.namedItem('time_zone'),
  };
  // The page's words for what this module says, in the page's language:
  // the catalogue is the server's.
  const text = {
    saving: form.dataset.textSaving,
    saved: form.dataset.textSaved,
    failed: form.dataset.textFailed,
    invalid: form.dataset.textInvalid,
    avatarBroken: form.dataset.textAvatarBroken,
  };
  const avatarWarning = document.getElementById('avatar_url-warning');
  const summary = form.querySelector('[data-error-summary]');
  const preview = document.querySelector('[data-preview-avatar]');
  const previewName = document.querySelector('[data-preview-name]');
  let saving = false;

  function setStatus(message, state) {
    if (!status) {
      return;
    }
    clearTimeout(status.fadeTimer);
    status.classList.remove('is-fading');
    status.textContent = message;
    if (state) {
      status.dataset.state = state;
    } else {
      delete status.dataset.state;
    }
    if (state === 'success') {
      fadeLater(status);
    }
  }

  // showAvatarWarning says, at the avatar's field, that the picture at
  // its address does not load, or clears that; the profile is saved
  // either way.
  function showAvatarWarning(show) {
    if (avatarWarning) {
      avatarWarning.textContent = show ? text.avatarBroken : '';
      avatarWarning.hidden = !show;
    }
  }

  function setFieldError(field, message) {
    const input = inputs[field];
    const errorEl = document.getElementById(field + '-error');
    if (input) {
      if (message) {
        input.setAttribute('aria-invalid', 'true');
      } else {
        input.removeAttribute('aria-invalid');
      }
    }
    if (errorEl) {
      errorEl.textContent = message || '';
      errorEl.hidden = !message;
    }
  }

  function clearErrors() {
    Object.keys(inputs).forEach((field) => setFieldError(field, ''));
    if (summary) {
      showErrorSummary(summary, []);
    }
  }

  // updatePreview shows a profile in the preview. While the person types,
  // initials is undefined and the preview keeps the last ones the server
  // gave: the rule that makes them is the server's.
  function updatePreview(name, avatarUrl, initials) {
    if (previewName) {
      previewName.textContent = name;
    }
    if (preview) {
      setAvatar(preview, avatarUrl, initials);
    }
  }

  // showSaved puts the saved profile into the fields and makes it their
  // default value, so that a later difference marks the user's own edits.
  function showSaved(user) {
    inputs.name.defaultValue = user.name;
    inputs.name.value = user.name;
    inputs.avatar_url.defaultValue = user.avatarUrl || '';
    inputs.avatar_url.value = user.avatarUrl || '';
    if (inputs.locale && 'locale' in user) {
      const locale = user.locale || '';
      Array.from(inputs.locale.options).forEach((option) => {
        option.defaultSelected = option.value === locale;
      });
      inputs.locale.value = locale;
    }
    if (inputs.time_zone && 'timeZone' in user) {
      inputs.time_zone.defaultValue = user.timeZone || '';
      inputs.time_zone.value = user.timeZone || '';
    }
  }

  // isEditing reports work in progress that a change pushed from elsewhere
  // must not overwrite: a save under way, a focused field, a field that
  // differs from what was last saved or received, or one still in error.
  function isEditing() {
    return saving || Object.values(inputs).some((input) => input && (input === document.activeElement ||
      isChanged(input) || input.getAttribute('aria-invalid') === 'true'));
  }

  syncProfileForm = (user) => {
    if (isEditing()) {
      return;
    }
    showSaved(user);
    updatePreview(user.name, user.avatarUrl, user.initials);
  };

  inputs.name.addEventListener('input', () => {
    updatePreview(inputs.name.value, inputs.avatar_url.value.trim());
  });
  inputs.avatar_url.addEventListener('change', () => {
    updatePreview(inputs.name.value, inputs.avatar_url.value.trim());
  });

  // profileBody is the form as PUT /api/profile takes it: an empty
  // language or time zone is null, the browser's and the site's.
  function profileBody() {
    const body = { name: inputs.name.value, avatarUrl: inputs.avatar_url.value.trim() };
    if (inputs.locale) {
      body.locale = inputs.locale.value || null;
    }
    if (inputs.time_zone) {
      body.timeZone = inputs.time_zone.value.trim() || null;
    }
    return body;
  }

  async function save() {
    ownSaves++;
    try {
      return await send();
    } finally {
      ownSaves--;
    }
  }

  async function send() {
    let response;
    try {
      response = await fetch('/api/profile', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify(profileBody()),
      });
    } catch {
      setStatus(text.failed, 'error');
      return false;
    }
    if (response.status === 401) {
      window.location.assign('/login?next=' + encodeURIComponent('/settings'));
      return false;
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.status === 200 && body && body.user) {
      const user = body.user;
      clearErrors();
      showSaved(user);
      updatePreview(user.name, user.avatarUrl, user.initials);
      // Initials in place of a picture that does not load would look
      // like a save that lost the address.
      const loads = await imageLoads(user.avatarUrl);
      showAvatarWarning(!loads);
      setStatus(loads ? text.saved : '', loads ? 'success' : '');
      // A new language brings the page in it: its form says the same.
      if (await applyUser(user)) {
        announceSaved();
        return true;
      }
      return false;
    }
    if (response.status === 422 && body) {
      clearErrors();
      const fields = body.fields || {};
      // In the form's order, as the server's summary lists them.
      const items = Object.entries(FIELD_NAMES).flatMap(([key, field]) => {
        const message = fields[key];
        if (!message || !inputs[field]) {
          return [];
        }
        setFieldError(field, message);
        return [{ field, message }];
      });
      // Each message is shown once: in the summary and at its field, not
      // again beside Save.
      setStatus('', '');
      if (summary) {
        showErrorSummary(summary, items.length > 0 ? items : [{ message: body.error || text.invalid }]);
        return true;
      }
      return false;
    }
    setStatus(text.failed, 'error');
    return false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (saving) {
      return;
    }
    saving = true;
    const hadFocus = document.activeElement === button;
    form.setAttribute('aria-busy', 'true');
    if (button) {
      button.disabled = true;
    }
    setStatus(text.saving, '');
    let movedFocus = false;
    try {
      movedFocus = await save();
    } finally {
      saving = false;
      form.removeAttribute('aria-busy');
      if (button) {
        button.disabled = false;
        if (hadFocus && !movedFocus && (document.activeElement === null || document.activeElement === document.body)) {
          button.focus();
        }
      }
    }
  });
}

// initAvatarForm sends the picture form with fetch: the chosen file shows
// in the preview at once, and the saved picture in every place the page
// shows the user, without a reload. Without it the form posts and comes
// back with a flash.
function initAvatarForm() {
  const form = document.getElementById('avatar-form');
  if (!form || typeof window.fetch !== 'function' || typeof window.FormData !== 'function') {
    return;
  }
  const input = form.elements.namedItem('avatar');
  const status = document.getElementById('avatar-status');
  const errorEl = document.getElementById('avatar-error');
  const remove = form.querySelector('[data-avatar-remove]');
  const preview = document.querySelector('[data-preview-avatar]');
  const text = {
    uploading: form.dataset.textUploading,
    uploaded: form.dataset.textUploaded,
    removed: form.dataset.textRemoved,
    failed: form.dataset.textFailed,
  };
  let busy = false;

  function setStatus(message, state) {
    status.textContent = message;
    if (state) {
      status.dataset.state = state;
    } else {
      delete status.dataset.state;
    }
  }

  function setError(message) {
    errorEl.textContent = message || '';
    errorEl.hidden = !message;
    if (message) {
      input.setAttribute('aria-invalid', 'true');
    } else {
      input.removeAttribute('aria-invalid');
    }
  }

  // showChosen draws the chosen file into the preview. A canvas, not an
  // image of a blob: address: the Content-Security-Policy lets images come
  // only from the site and from https.
  async function showChosen(file) {
    if (!preview || typeof window.createImageBitmap !== 'function') {
      return;
    }
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      return;
    }
    let canvas = preview.querySelector('canvas');
    if (!canvas) {
      canvas = document.createElement('canvas');
      canvas.width = 128;
      canvas.height = 128;
      canvas.setAttribute('aria-hidden', 'true');
      preview.append(canvas);
    }
    const side = Math.min(bitmap.width, bitmap.height);
    canvas.getContext('2d').drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side,
      0, 0, canvas.width, canvas.height);
    bitmap.close();
  }

  input.addEventListener('change', () => {
    setError('');
    setStatus('', '');
    if (input.files && input.files[0]) {
      showChosen(input.files[0]);
    }
  });

  async function send(action, body, done) {
    let response;
    try {
      response = await fetch(action, {
        method: 'POST',
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
        body,
      });
    } catch {
      setStatus(text.failed, 'error');
      return;
    }
    if (response.status === 401) {
      window.location.assign('/login?next=' + encodeURIComponent('/settings'));
      return;
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.status === 200 && data && data.user) {
      const user = data.user;
      input.value = '';
      setError('');
      // The profile form saves its avatarUrl field: it must hold the new
      // picture, or the next save of a name would put the old one back.
      const field = document.getElementById('avatar_url');
      if (field) {
        field.defaultValue = user.avatarUrl || '';
        field.value = user.avatarUrl || '';
      }
      applyUser(user);
      if (preview) {
        setAvatar(preview, user.avatarUrl, user.initials);
      }
      setStatus(done, 'success');
      return;
    }
    const message = data && data.fields && data.fields.avatar;
    if (message) {
      setError(message);
      setStatus('', '');
      input.focus();
      return;
    }
    setStatus((data && data.error) || text.failed, 'error');
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) {
      return;
    }
    busy = true;
    form.setAttribute('aria-busy', 'true');
    setStatus(text.uploading, '');
    try {
      if (event.submitter && event.submitter === remove) {
        await send(remove.formAction, new URLSearchParams(), text.removed);
      } else {
        await send(form.action, new FormData(form), text.uploaded);
      }
    } finally {
      busy = false;
      form.removeAttribute('aria-busy');
    }
  });
}

// Admin -------------------------------------------------------------------

// usersTable is the admin page's table of users, or null on other pages.
function usersTable() {
  const caption = document.getElementById('users-caption');
  return caption ? caption.closest('table') : null;
}

// countUsers updates the count that ends the caption; the words before it
// name the list (all users, a page, a search) and stay.
function countUsers(table) {
  const count = '(' + table.querySelectorAll('tbody tr[data-user-id]').length + ')';
  const caption = table.caption.textContent;
  table.caption.textContent = caption.replace(/\(\d+\)$/, count);
}

function userRow(table, id) {
  return table.querySelector('tbody tr[data-user-id="' + Number(id) + '"]');
}

// updateUserRow shows a changed user in their row of the admin table. A
// user without a row is new: the table is loaded again.
export function updateUserRow(user) {
  const table = usersTable();
  if (!table || !user) {
    return;
  }
  const row = userRow(table, user.id);
  if (!row) {
    refreshUsers();
    return;
  }
  // A table being loaded again may have been read before this change:
  // load it once more afterwards.
  if (refreshing) {
    refreshAgain = true;
  }
  const role = String(user.role || '');
  // The name shows in the user's cell and names the actions' group for
  // screen readers.
  row.querySelectorAll('[data-field="name"]').forEach((el) => {
    el.textContent = user.name;
  });
  // Editors' events carry no email and no avatar: what the row shows of
  // them stays as the page drew it.
  const email = row.querySelector('[data-field="email"]');
  if (email && typeof user.email === 'string') {
    email.textContent = user.email;
  }
  const avatar = row.querySelector('[data-field="avatar"]');
  if (avatar && typeof user.avatarUrl === 'string') {
    setAvatar(avatar, user.avatarUrl, user.initials);
  } else if (avatar) {
    const initials = avatar.querySelector('.avatar-initials');
    if (initials && typeof user.initials === 'string') {
      initials.textContent = user.initials;
    }
  }
  const badge = row.querySelector('[data-field="role"]');
  if (badge) {
    setRoleBadge(badge, role, roleLabel(user));
  }
  if (typeof user.disabled === 'boolean') {
    setDisabled(row, user.disabled);
  }
  // A role the admin is choosing right now stays as they left it.
  const select = row.querySelector('select[name="role"]');
  const chosen = select && Array.from(select.options).find((option) => option.defaultSelected);
  if (select && select !== document.activeElement && (!chosen || select.value === chosen.value)) {
    Array.from(select.options).forEach((option) => {
      option.defaultSelected = option.value === role;
    });
    select.value = role;
  }
}

// setDisabled shows a row's account disabled or enabled as the page does:
// the row dimmed, a badge (named by the badges' data-disabled-label), and
// the button that does the opposite. The page gives that button the
// other state's action and label (data-toggle-action, data-toggle-label):
// a change swaps them.
function setDisabled(row, disabled) {
  if (row.classList.contains('is-disabled') === disabled) {
    return;
  }
  row.classList.toggle('is-disabled', disabled);
  const badges = row.querySelector('[data-field="badges"]');
  let badge = row.querySelector('[data-field="disabled"]');
  if (disabled && badges && !badge) {
    badge = document.createElement('span');
    badge.className = 'badge badge-muted';
    badge.dataset.field = 'disabled';
    badge.textContent = badges.dataset.disabledLabel;
    badges.appendChild(badge);
  } else if (!disabled && badge) {
    badge.remove();
  }
  const toggle = row.querySelector('[data-field="toggle"]');
  if (toggle) {
    const { toggleAction, toggleLabel } = toggle.dataset;
    toggle.dataset.toggleAction = toggle.getAttribute('formaction');
    toggle.dataset.toggleLabel = toggle.textContent;
    toggle.setAttribute('formaction', toggleAction);
    toggle.textContent = toggleLabel;
    toggle.classList.toggle('button-secondary', disabled);
    toggle.classList.toggle('button-danger', !disabled);
  }
}

// removeUserRow takes a deleted user out of the admin table.
export function removeUserRow(id) {
  const table = usersTable();
  const row = table && userRow(table, id);
  if (row) {
    row.remove();
    countUsers(table);
  }
}

let refreshing = null;
let refreshAgain = false;

// refreshUsers loads the admin table again from the server, when changes
// may have been missed or a new user appeared. Calls made while a load is
// under way are served by one more load after it.
export function refreshUsers() {
  if (!usersTable() || typeof window.fetch !== 'function') {
    return Promise.resolve();
  }
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        await loadUsers();
      } while (refreshAgain);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function loadUsers() {
  let response;
  let html;
  try {
    // The same search and page as this one; a form's answer (say, the
    // create form's errors) has the table of the first page.
    const url = window.location.pathname === '/admin' ? '/admin' + window.location.search : '/admin';
    response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
    html = await response.text();
  } catch {
    return;
  }
  // Signed out (sent to the sign-in page) or no longer allowed (403): the
  // server's own answer to this page is what the person must see now.
  if (response.status === 403 || new URL(response.url).pathname !== '/admin') {
    window.location.reload();
    return;
  }
  if (!response.ok) {
    return;
  }
  const caption = new DOMParser().parseFromString(html, 'text/html').getElementById('users-caption');
  const fresh = caption && caption.closest('table');
  const table = usersTable();
  if (!fresh || !fresh.tBodies[0] || !table || !table.tBodies[0]) {
    return;
  }
  const body = document.adoptNode(fresh.tBodies[0]);
  const kept = keptMenus(table.tBodies[0]);
  table.tBodies[0].replaceWith(body);
  restoreMenus(body, kept);
  countUsers(table);
}

// keptMenus is which rows' action menus are open, and in which row the
// focus is: a table loaded again keeps the admin where they were.
function keptMenus(body) {
  const open = Array.from(body.querySelectorAll('details[open]'))
    .map((menu) => menu.closest('tr[data-user-id]'))
    .filter((row) => row)
    .map((row) => row.dataset.userId);
  const focused = document.activeElement && body.contains(document.activeElement) ?
    document.activeElement.closest('tr[data-user-id]') : null;
  return { open, focused: focused ? focused.dataset.userId : '' };
}

function restoreMenus(body, kept) {
  kept.open.forEach((id) => {
    const menu = body.querySelector('tr[data-user-id="' + Number(id) + '"] details');
    if (menu) {
      menu.open = true;
    }
  });
  const row = kept.focused && body.querySelector('tr[data-user-id="' + Number(kept.focused) + '"]');
  const summary = row && row.querySelector('summary');
  if (summary) {
    summary.focus();
  }
}

// dialogWords is what the confirmation dialog says of action (the last
// segment of its route): its data-<part>-<action>, "" for an action it
// does not confirm.
function dialogWords(dialog, part, action) {
  return dialog.getAttribute('data-' + part + '-' + action) || '';
}

// initConfirmations asks, in the page's own words, before a row's action
// that signs a person out: the button that sent it says what it does.
// Without the script the same request gets the confirmation page instead.
function initConfirmations() {
  const dialog = document.getElementById('confirm-dialog');
  const table = usersTable();
  if (!dialog || !table || typeof dialog.showModal !== 'function') {
    return;
  }
  // pending is the action the open dialog asks about: its user's id and
  // its route. The answer is read from the dialog's own form as it is
  // submitted, not from its close event, which comes later, maybe once
  // the dialog has been opened again.
  let pending = null;
  table.addEventListener('submit', (event) => {
    const form = event.target;
    const button = event.submitter;
    if (!(form instanceof HTMLFormElement) || !button || form.elements.namedItem('confirm')) {
      return;
    }
    const action = new URL(button.formAction || form.action).pathname.split('/').pop();
    const heading = dialogWords(dialog, 'heading', action);
    const row = form.closest('tr[data-user-id]');
    if (!heading || !row) {
      return;
    }
    event.preventDefault();
    const name = form.querySelector('legend[data-field="name"]');
    dialog.querySelector('[data-confirm-heading]').textContent = heading;
    dialog.querySelector('[data-confirm-name]').textContent = name ? name.textContent : '';
    dialog.querySelector('[data-confirm-body]').textContent = dialogWords(dialog, 'body', action);
    dialog.querySelector('[data-confirm-submit]').textContent = button.textContent;
    pending = { id: row.dataset.userId, formAction: button.getAttribute('formaction') };
    dialog.showModal();
  });
  dialog.querySelector('form').addEventListener('submit', (event) => {
    const asked = pending;
    pending = null;
    if (asked && event.submitter && event.submitter.value === 'yes') {
      submitConfirmed(table, asked);
    }
  });
}

// submitConfirmed sends a confirmed action. The table may have been loaded
// again while the dialog was open: the action goes through the row's
// button as the table has it now, if it still offers the same action.
function submitConfirmed(table, asked) {
  const form = table.querySelector('tr[data-user-id="' + Number(asked.id) + '"] form');
  const sender = form && Array.from(form.querySelectorAll('button[formaction]'))
    .find((candidate) => candidate.getAttribute('formaction') === asked.formAction);
  if (!sender) {
    return;
  }
  // The field goes with this one request: the form data is made as
  // requestSubmit is called, and a page kept in the back/forward cache
  // must ask again.
  const confirm = document.createElement('input');
  confirm.type = 'hidden';
  confirm.name = 'confirm';
  confirm.value = 'yes';
  form.append(confirm);
  form.requestSubmit(sender);
  confirm.remove();
}

// Sign-in -----------------------------------------------------------------

// showSignedOut tells someone sent to the sign-in page by a live logout
// (login?signed_out=...) that they were signed out, when the page has no
// word of its own on why.
function showSignedOut() {
  const message = document.getElementById('signed-out');
  if (message && new URLSearchParams(window.location.search).has('signed_out') && !document.getElementById('login-notice')) {
    message.hidden = false;
  }
}

// Start-up ----------------------------------------------------------------

// initPage enhances the page's body: once the page is parsed, and again
// when a change of language puts a new body in place.
function initPage() {
  hideBrokenAvatars();
  addPasswordToggles();
  addCopyButtons();
  initProfileForm();
  initAvatarForm();
  initConfirmations();
  showSignedOut();
  fadeSavedFlash();
  focusErrorSummary();
}

// A module runs once, after the page is parsed, however many scripts
// import it.
watchBrokenAvatars();
watchSummaryLinks();
initPage();
// Says that the page was enhanced: the browser tests tell a page whose
// scripts ran from one that works without them.
document.documentElement.dataset.enhanced = '';
