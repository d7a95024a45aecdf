// Browser scenarios: a superuser, an end user and a support user clicking through the
// console in Debian's Chromium (playwright-core), with axe-core run on every page visited.
// The server, its database and the accounts are prepared by tests/e2e/run.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BASE = process.env.BASE_URL;
const PASSWORD = process.env.E2E_PASSWORD;
const CLIENT_PORT = Number(process.env.CLIENT_PORT);
const SHOTS = process.env.SCREENSHOT_DIR;
const CALLBACK = `http://127.0.0.1:${CLIENT_PORT}/callback`;
mkdirSync(SHOTS, { recursive: true });

const results = [];
/** A 1×1 PNG, for the icon upload. */
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const audited = new Set();
let shared = {};

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The widths every page is checked at: a laptop and a phone. */
const WIDTHS = [[1280, 900], [390, 844]];

/** Runs axe-core on the page at each width in WIDTHS; serious or critical violations, and
 * any horizontal scroll (the page, or a table inside it, wider than the screen), fail the
 * scenario. */
async function audit(page, label) {
  const url = new URL(page.url());
  const key = `${url.pathname}:${label}`;
  if (audited.has(key)) return;
  audited.add(key);
  await page.addScriptTag({ content: AXE });
  for (const [width, height] of WIDTHS) {
    await page.setViewportSize({ width, height });
    const violations = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
    });
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    check(bad.length === 0, `axe at ${width} px on ${url.pathname} (${label}): ${JSON.stringify(bad)}`);
    const wider = await page.evaluate(() => {
      const root = document.documentElement;
      const over = [root.scrollWidth - root.clientWidth];
      for (const wrap of document.querySelectorAll('.table-wrap')) over.push(wrap.scrollWidth - wrap.clientWidth);
      return Math.max(...over);
    });
    check(wider <= 0, `${url.pathname} (${label}) is ${wider} px wider than a ${width} px screen`);
    // Stacked cards hide the column headings: each cell must carry its own.
    const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('table'))
      .filter((t) => t.querySelector('thead th'))
      .flatMap((t) => Array.from(t.querySelectorAll('tbody td:not([colspan])')))
      .filter((td) => !td.getAttribute('data-label')).length);
    check(unlabelled === 0, `${url.pathname} (${label}): ${unlabelled} table cells without their column's label`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function visit(page, url, label) {
  await page.goto(url.startsWith('http') ? url : BASE + url);
  await audit(page, label ?? 'visit');
}

async function signIn(page, login) {
  await visit(page, '/login', 'sign-in');
  await page.getByLabel('Username or e-mail').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** The RFC 6238 code an authenticator app shows for a base32 key, `steps` steps from now. */
function totp(base32, steps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...base32.replace(/=+$/, '')].map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + steps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1e6).padStart(6, '0');
}

async function flash(page) {
  return (await page.locator('.flash').textContent())?.trim() ?? '';
}

// --- a small local client application on another loopback port ----------------------------
const client = { state: null, verifier: null, token: null, clientId: null, secret: null };
const clientServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${CLIENT_PORT}`);
  const page = (body) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Local client</title></head><body><main><h1>Local client</h1>${body}</main></body></html>`);
  };
  try {
    if (url.pathname === '/') {
      client.state = randomBytes(16).toString('hex');
      client.verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(client.verifier).digest('base64url');
      const authorize = new URL(`${BASE}/index.php?module=OAuth2&action=authorize`);
      for (const [k, v] of Object.entries({ response_type: 'code', client_id: client.clientId, redirect_uri: CALLBACK, scope: 'matomo:read', state: client.state, code_challenge: challenge, code_challenge_method: 'S256' })) authorize.searchParams.set(k, v);
      // The second run asks for the consent screen again, as a client lets its user choose.
      if (url.searchParams.get('prompt')) authorize.searchParams.set('prompt', url.searchParams.get('prompt'));
      if (url.searchParams.get('scope')) authorize.searchParams.set('scope', url.searchParams.get('scope'));
      return page(`<p><a href="${authorize.href.replace(/&/g, '&amp;')}">Connect to Consentry</a></p>`);
    }
    if (url.pathname === '/callback') {
      if (url.searchParams.get('state') !== client.state) return page('<p id="result">Error: state mismatch</p>');
      const error = url.searchParams.get('error');
      if (error) return page(`<p id="result">Error: ${error}</p>`);
      const form = new URLSearchParams({ grant_type: 'authorization_code', code: url.searchParams.get('code'), redirect_uri: CALLBACK, client_id: client.clientId, client_secret: client.secret, code_verifier: client.verifier });
      const tokens = await (await fetch(`${BASE}/index.php?module=OAuth2&action=token`, { method: 'POST', body: form })).json();
      if (!tokens.access_token) return page(`<p id="result">Error: ${JSON.stringify(tokens)}</p>`);
      client.token = tokens.access_token;
      const api = await fetch(`${BASE}/index.php?module=API&method=SitesManager.getSitesWithAtLeastViewAccess&format=json`, { headers: { authorization: `Bearer ${client.token}` } });
      const sites = await api.json();
      return page(`<p id="result">API ${api.status}: ${sites.map((s) => s.name).join(', ')}</p>`);
    }
    if (url.pathname === '/call') {
      const api = await fetch(`${BASE}/index.php?module=API&method=SitesManager.getSitesWithAtLeastViewAccess&format=json`, { headers: { authorization: `Bearer ${client.token}` } });
      return page(`<p id="result">API ${api.status}</p>`);
    }
    res.writeHead(404).end();
  } catch (e) {
    page(`<p id="result">Error: ${e}</p>`);
  }
});

// --- the scenarios ---------------------------------------------------------------------------
const scenarios = [
  ['1 superuser changes the access token lifetime', async (ctx) => {
    const page = await ctx.newPage();
    await signIn(page, 'root');
    await visit(page, '/admin/settings/oauth2');
    await page.getByLabel('Access token lifetime (seconds)').fill('900');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save' }).click();
    check((await flash(page)).includes('saved'), 'a success message after saving');
    await page.reload();
    check(await page.getByLabel('Access token lifetime (seconds)').inputValue() === '900', 'the new value after reload');
    await shot(page, '01-general-settings');
    await page.getByLabel('Access token lifetime (seconds)').fill('5');
    await page.getByRole('button', { name: 'Save' }).click();
    const error = await page.locator('#access_token_lifetime-error').textContent();
    check(error.includes('60'), `the field error, got ${error}`);
    await audit(page, 'invalid');
    await shot(page, '01-general-settings-error');
    await page.close();
  }],
  ['2 superuser creates a confidential and a public client', async (ctx) => {
    const page = await ctx.newPage();
    await visit(page, '/admin/oauth2/clients');
    await page.getByRole('link', { name: 'Create new client' }).first().click();
    await audit(page, 'create');
    await page.getByLabel('Name', { exact: true }).fill('Dashboard sync');
    await page.getByLabel('Description').fill('Syncs dashboards nightly');
    await page.getByLabel(/^Confidential/).check();
    await page.getByLabel(/^Authorisation code/).check();
    await page.getByRole('checkbox', { name: /^Refresh token/ }).check();
    await page.getByLabel('Redirect URIs', { exact: true }).fill(CALLBACK);
    await page.getByLabel('Your password').fill(PASSWORD);
    await shot(page, '02-create-client');
    await page.getByRole('button', { name: 'Create client' }).click();
    await page.waitForURL(/\/credentials$/);
    await audit(page, 'credentials');
    const secret = (await page.locator('#client-secret').textContent()).trim();
    const clientId = (await page.locator('#client-id').textContent()).trim();
    check(/^[0-9a-f]{64}$/.test(secret), 'a 64-character secret');
    await shot(page, '02-secret-once');
    await page.reload();
    check(!(await page.content()).includes(secret), 'the secret is gone after reload');
    check((await page.content()).includes('no longer available'), 'the page says so');
    Object.assign(client, { clientId, secret });
    await visit(page, '/admin/oauth2/clients/new', 'create-public');
    await page.getByLabel('Name', { exact: true }).fill('Pocket app');
    await page.getByLabel(/^Public/).check();
    await page.getByLabel(/^Client credentials/).uncheck();
    await page.getByLabel('Redirect URIs', { exact: true }).fill('http://127.0.0.1:9/cb');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create client' }).click();
    await page.waitForURL(/\/admin\/oauth2\/clients\/[0-9a-f]{32}$/);
    check((await flash(page)).includes('public client was created'), 'public client created');
    shared.publicUrl = page.url();
    await page.close();
  }],
  ['3 superuser pauses, resumes, edits and deletes', async (ctx) => {
    const page = await ctx.newPage();
    await visit(page, '/admin/oauth2/clients');
    await page.getByRole('button', { name: 'Pause Dashboard sync' }).click();
    const row = page.locator('tr', { hasText: 'Dashboard sync' });
    check((await row.locator('.badge').first().textContent()).includes('Paused'), 'the Paused badge');
    await audit(page, 'paused');
    await shot(page, '03-clients-paused');
    await page.getByRole('button', { name: 'Resume Dashboard sync' }).click();
    check((await row.locator('.badge').first().textContent()).includes('Active'), 'Active again');
    await page.getByRole('link', { name: 'Edit Dashboard sync' }).click();
    await audit(page, 'edit');
    await page.getByLabel('Description').fill('Syncs dashboards every hour');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save' }).click();
    check((await flash(page)).includes('saved'), 'edit saved');
    check((await page.content()).includes('Syncs dashboards every hour'), 'new description shown');
    await visit(page, '/admin/oauth2/clients');
    await page.getByRole('link', { name: 'Delete Pocket app' }).click();
    await audit(page, 'delete');
    check((await page.content()).includes('Delete Pocket app?'), 'confirmation names the client');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete client' }).click();
    check((await flash(page)).includes('Pocket app was deleted'), 'deleted');
    await page.close();
  }],
  ['4 end user authorizes the local client with PKCE, then denies', async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await page.goto(`http://127.0.0.1:${CLIENT_PORT}/`);
    await page.getByRole('link', { name: 'Connect to Consentry' }).click();
    await page.waitForURL(/\/login/);
    await audit(page, 'sign-in-from-client');
    await page.getByLabel('Username or e-mail').fill('analyst');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await audit(page, 'consent');
    const consent = await page.content();
    check(consent.includes('Dashboard sync') && consent.includes('matomo:read'), 'consent shows client and scope');
    await shot(page, '04-consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/127\.0\.0\.1:\d+\/callback/);
    const result = await page.locator('#result').textContent();
    check(result.startsWith('API 200: Shop'), `the client called the API: ${result}`);
    shared.userContext = ctx;
    // A second run, denied (consent is remembered, so the client asks for the screen).
    await page.goto(`http://127.0.0.1:${CLIENT_PORT}/?prompt=consent`);
    const token = client.token;
    await page.getByRole('link', { name: 'Connect to Consentry' }).click();
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL(/127\.0\.0\.1:\d+\/callback/);
    const denied = await page.locator('#result').textContent();
    check(denied.includes('access_denied'), `deny gives access_denied: ${denied}`);
    client.token = token;
    await page.close();
  }],
  ['5 support user audits clients without controls and exports CSV', async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await signIn(page, 'helper');
    await visit(page, '/admin/oauth2/clients');
    const list = await page.content();
    check(list.includes('Dashboard sync'), 'the client is listed');
    for (const control of ['Pause ', 'Resume ', 'Edit ', 'Delete ']) {
      check((await page.getByRole('button', { name: control }).count()) === 0 && (await page.getByRole('link', { name: new RegExp(`^${control}`) }).count()) === 0, `no ${control.trim()} control`);
    }
    await page.getByRole('link', { name: 'Details of Dashboard sync' }).click();
    await audit(page, 'detail');
    check(await page.locator('svg.chart rect').count() === 30, 'the 30-day chart');
    check(!(await page.content()).includes('/edit"'), 'no edit link on the detail page');
    await shot(page, '05-client-detail');
    await visit(page, '/admin/audit');
    const log = await page.content();
    for (const event of ['settings.changed', 'client.created', 'client.paused', 'client.resumed', 'client.edited', 'client.deleted', 'consent.granted', 'consent.denied']) {
      check(log.includes(event), `the audit log shows ${event}`);
    }
    await shot(page, '05-audit-log');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export as CSV' }).click()]);
    const csv = readFileSync(await download.path(), 'utf8');
    check(csv.startsWith('time_utc,actor,action,target_type,target,details,client_address'), 'the CSV header');
    check(csv.includes('client.paused'), 'the CSV has the events');
    await ctx.close();
  }],
  ['6 end user revokes the application and its next API call gets 401', async () => {
    const ctx = shared.userContext;
    const page = await ctx.newPage();
    await page.goto(`http://127.0.0.1:${CLIENT_PORT}/call`);
    check((await page.locator('#result').textContent()) === 'API 200', 'the token works before');
    await visit(page, '/account/authorized-apps');
    await shot(page, '06-authorized-apps');
    await page.getByRole('button', { name: 'Revoke access of Dashboard sync' }).click();
    check((await flash(page)).includes('no longer has access'), 'revoked');
    await audit(page, 'revoked');
    await page.goto(`http://127.0.0.1:${CLIENT_PORT}/call`);
    check((await page.locator('#result').textContent()) === 'API 401', 'the next API call gets 401');
    // Personal > Security: the password form, checked by axe, refuses a wrong current password.
    await visit(page, '/account/security');
    await page.getByLabel('Current password').fill('not the current password');
    await page.getByLabel('New password', { exact: true }).fill('a new password for the test');
    await page.getByLabel('New password, again').fill('a new password for the test');
    await page.getByRole('button', { name: 'Change password' }).click();
    check((await page.locator('#current_password-error').textContent()).includes('incorrect'), 'a wrong current password is refused');
    await audit(page, 'refused');
    await shot(page, '07-security');
    await ctx.close();
  }],
  ['7 superuser rotates a secret with a grace period and uploads an icon; a user connects a device, limited to one website', async (ctx) => {
    const page = await ctx.newPage();
    await visit(page, '/admin/oauth2/clients');
    await page.getByRole('link', { name: 'Dashboard sync', exact: true }).click();
    const detail = page.url();
    await page.getByRole('link', { name: 'Regenerate secret' }).click();
    await audit(page, 'rotate');
    await page.getByLabel('24 hours').check();
    await page.getByLabel('Also revoke every token').uncheck();
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Regenerate secret' }).click();
    await page.waitForURL(/\/credentials$/);
    await visit(page, detail, 'grace');
    check((await page.locator('#previous-secret').textContent()).includes('Previous secret valid until'), 'the grace period is shown');
    await shot(page, '07-previous-secret');
    await page.getByRole('button', { name: 'End it now' }).click();
    await audit(page, 'end-previous');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'End the previous secret now' }).click();
    check((await flash(page)).includes('no longer works'), 'the previous secret ended');
    // The other lists and pages at both widths.
    for (const url of ['/admin/users', '/admin/websites', '/admin/oauth2/registration-tokens', '/admin/users/analyst', '/admin/audit', '/account/security/2fa']) {
      await visit(page, url, 'lists');
    }
    // An initial access token, shown once (a long unbroken string), with a field message first.
    await visit(page, '/admin/oauth2/registration-tokens', 'lists');
    await page.getByLabel('Label').fill('Deploy scripts');
    await page.getByLabel('Valid for (days, 1 to 365)').fill('400');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create token' }).click();
    check((await page.locator('#days-error').textContent()).includes('365'), 'the days are refused with a field message');
    await audit(page, 'token refused');
    check(await page.getByLabel('Label').inputValue() === 'Deploy scripts', 'what was typed is kept');
    await page.getByLabel('Valid for (days, 1 to 365)').fill('30');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create token' }).click();
    check((await page.locator('#iat-token').textContent()).length >= 32, 'the token is shown once');
    await audit(page, 'token shown');
    // Error pages: an unknown client, and an authorization request no client can make.
    const missing = await page.goto(`${BASE}/admin/oauth2/clients/${'0'.repeat(32)}`);
    check(missing.status() === 404, `an unknown client is 404, got ${missing.status()}`);
    await audit(page, 'not found');
    const refused = await page.goto(`${BASE}/oauth2/authorize?response_type=code&client_id=${'f'.repeat(32)}`);
    check(refused.status() === 400, `an unknown client_id is 400, got ${refused.status()}`);
    await audit(page, 'error page');
    // Manage clients on a phone: stacked cards (audit checks both widths, then returns to 1280).
    await visit(page, '/admin/oauth2/clients', 'phone');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, '07-clients-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    await shot(page, '07-clients');
    // An icon, uploaded and shown from this server.
    await visit(page, `${detail}/icon`, 'icon');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByLabel('Icon file').setInputFiles({ name: 'icon.png', mimeType: 'image/png', buffer: Buffer.from(PNG_1PX, 'base64') });
    await page.getByRole('button', { name: 'Upload icon' }).click();
    check((await flash(page)).includes('icon was saved'), 'the icon was saved');
    await audit(page, 'with icon');
    // The device grant: switched on, and a client for a TV.
    await visit(page, '/admin/settings/oauth2', 'device switch');
    await page.getByLabel(/^Enable device authorization grant/).check();
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save' }).click();
    check((await flash(page)).includes('saved'), 'settings saved');
    await visit(page, '/admin/oauth2/clients/new', 'create-device');
    await page.getByLabel('Name', { exact: true }).fill('TV app');
    await page.getByLabel(/^Public/).check();
    await page.getByLabel(/^Authorisation code/).uncheck();
    await page.getByLabel(/^Client credentials/).uncheck();
    await page.getByLabel(/^Device code/).check();
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create client' }).click();
    await page.waitForURL(/\/admin\/oauth2\/clients\/[0-9a-f]{32}$/);
    const tvId = page.url().split('/').pop();
    await page.close();
    const started = await fetch(`${BASE}/oauth2/device_authorization`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `client_id=${tvId}&scope=matomo:read`,
    }).then((r) => r.json());
    check(/^[B-Z]{4}-[B-Z]{4}$/.test(started.user_code), `a user code, got ${JSON.stringify(started)}`);
    // The user types nothing: the complete URI fills the code in.
    const userCtx = await newContext();
    const user = await userCtx.newPage();
    await signIn(user, 'analyst');
    await visit(user, started.verification_uri_complete, 'device');
    check((await user.getByLabel('Code from your device').inputValue()) === started.user_code, 'the code is filled in');
    await shot(user, '07-device');
    await user.getByRole('button', { name: 'Continue' }).click();
    await audit(user, 'device consent');
    // "Only the websites ticked" with none ticked: the screen again, with the message.
    await user.getByLabel('Only the websites ticked below').check();
    await user.getByRole('button', { name: 'Allow' }).click();
    check((await user.locator('#sites-error').textContent()).includes('Tick at least one website'), 'a field message by the websites');
    check(await user.getByLabel('Only the websites ticked below').isChecked(), 'the choice is kept');
    await audit(user, 'device consent refused');
    await user.getByLabel(/^Shop/).check();
    await shot(user, '07-device-consent');
    await user.getByRole('button', { name: 'Allow' }).click();
    await user.waitForURL(/answer=allowed/);
    await audit(user, 'device connected');
    const tokens = await fetch(`${BASE}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:device_code')}&client_id=${tvId}&device_code=${started.device_code}`,
    }).then((r) => r.json());
    check(typeof tokens.access_token === 'string', `the device gets its tokens, got ${JSON.stringify(tokens)}`);
    await visit(user, '/account/authorized-apps', 'with device');
    await user.getByRole('link', { name: 'Change the websites of TV app' }).click();
    await audit(user, 'app sites');
    check(await user.getByLabel(/^Shop/).isChecked(), 'the limit is shown');
    await userCtx.close();
  }],
  ['8 support user turns on two-factor authentication, signs in with a code, sees an OpenID Connect consent', async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await signIn(page, 'helper');
    await visit(page, '/account/security');
    await page.getByRole('link', { name: 'Set up or manage two-factor authentication' }).click();
    await audit(page, 'enrolment');
    check(await page.locator('.qr svg').count() === 1, 'the QR code is drawn as SVG');
    await shot(page, '08-two-factor-enrolment');
    const secret = (await page.locator('#totp-secret').textContent()).trim();
    await page.getByLabel('Code from your app').fill(totp(secret));
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    check(await page.locator('ul.recovery-codes code').count() === 10, 'ten recovery codes');
    await audit(page, 'recovery codes');
    await shot(page, '08-recovery-codes');
    // Signing in again asks for a code after the password.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await visit(page, '/login', 'sign-in');
    await page.getByLabel('Username or e-mail').fill('helper');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/login\/2fa/);
    await audit(page, 'code step');
    await page.getByLabel('Code from your authenticator app').fill(totp(secret, 1));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));
    // An application asking who the user is: the consent screen says so in plain words.
    await page.goto(`http://127.0.0.1:${CLIENT_PORT}/?scope=${encodeURIComponent('openid profile email matomo:read')}&prompt=consent`);
    await page.getByRole('link', { name: 'Connect to Consentry' }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await audit(page, 'consent with openid');
    const consent = await page.content();
    check(consent.includes('Confirm your identity') && consent.includes('Your email address: helper@example.com'), 'the identity scopes in plain words');
    await shot(page, '09-consent-openid');
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL(/127\.0\.0\.1:\d+\/callback/);
    await ctx.close();
  }],
];

const browser = { contexts: [] };
async function newContext() {
  const dir = mkdtempSync(path.join(tmpdir(), 'consentry-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    bypassCSP: true, // only so that axe-core can be injected; the pages' own CSP is tested elsewhere
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  ctx.setDefaultTimeout(15000);
  browser.contexts.push({ ctx, dir });
  return ctx;
}

await new Promise((resolve) => clientServer.listen(CLIENT_PORT, '127.0.0.1', resolve));
const admin = await newContext();
// The accessibility check itself must be able to fail: an image without alt text is critical.
{
  const probe = await admin.newPage();
  await probe.setContent('<!DOCTYPE html><html lang="en"><head><title>probe</title></head><body><main><img src="x.png"></main></body></html>');
  let caught = false;
  try { await audit(probe, 'probe'); } catch { caught = true; }
  audited.clear();
  await probe.close();
  if (!caught) { console.log('FAIL  axe-core did not flag an image without alt text'); process.exit(1); }
}
// And the width check must be able to fail: a table wider than a phone.
{
  const probe = await admin.newPage();
  await probe.setContent('<!DOCTYPE html><html lang="en"><head><title>probe</title></head><body><main><div class="table-wrap" style="overflow-x:auto"><table><tr><td style="min-width:600px">wide</td></tr></table></div></main></body></html>');
  let caught = false;
  try { await audit(probe, 'wide probe'); } catch (e) { caught = String(e).includes('wider than a 390 px screen'); }
  audited.clear();
  await probe.close();
  if (!caught) { console.log('FAIL  the width check did not flag a table wider than 390 px'); process.exit(1); }
}
let failed = 0;
for (const [name, run] of scenarios) {
  const started = Date.now();
  try {
    await run(admin);
    results.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    results.push({ name, ok: false, error: String(e) });
    console.log(`FAIL  ${name}: ${e.stack ?? e}`);
  }
}
for (const { ctx, dir } of browser.contexts) {
  await ctx.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
clientServer.close();
console.log(`browser scenarios: ${results.length - failed} passed, ${failed} failed; axe-core checked ${audited.size} page states at ${WIDTHS.map(([w]) => `${w}`).join(' and ')} px; screenshots in ${SHOTS}`);
process.exit(failed ? 1 : 0);
