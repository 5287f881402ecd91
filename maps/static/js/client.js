/* georeg map pages: overlays from the API (or, in static pages, from the page itself).
 *
 * The page (maps/pages.py, built with folium) has made the map, its base layers, the layer
 * control and, on the drawing page, Leaflet.Draw; `georegMaps.start` loads the overlays,
 * re-loads them in GCJ-02 (`crs=gcj02`) while a GCJ-02 base map (Amap) is shown, and runs the
 * page's panel. Nothing is computed here that the API does not offer: sampling happens in
 * POST /api/v1/sampling/plans; this script only shows what comes back.
 *
 * Classic scripts (static pages open from disk, where ES modules do not load), in this order,
 * sharing the namespace `window.georegMaps`: client.js (token client, small helpers),
 * styles.js (how each layer looks), clusters.js (point clusters), layers.js (loading and
 * showing the overlays), panels.js (page panels, plan display), draw.js (the drawing page),
 * start.js (`georegMaps.start`). The login page needs only this file (`georegMaps.login`).
 * `window.georeg` is the page's state, read by the tests and the bench.
 *
 * The login token lives in sessionStorage (this tab only) and goes out as a bearer header.
 */
(function (ns) {
  'use strict';

  var TOKEN_KEY = 'georeg.token';
  window.georeg = {ready: false, crs: 'wgs84', layers: {}, map: null, plan: null, errors: []};

  // --- small helpers ------------------------------------------------------------------------

  function esc(value) {
    return String(value === null || value === undefined ? '' : value).replace(/[&<>"']/g,
      function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; });
  }
  function el(id) { return document.getElementById(id); }
  function fmt(value, digits) {
    if (value === null || value === undefined) return '—';
    if (typeof value === 'number') {
      return digits === undefined ? value.toLocaleString('zh-CN')
        : value.toLocaleString('zh-CN', {maximumFractionDigits: digits});
    }
    return esc(value);
  }
  function withCrs(url, crs) {
    if (!url || crs === 'wgs84') return url;
    return url + (url.indexOf('?') < 0 ? '?' : '&') + 'crs=' + crs;
  }
  function notice(message, kind, key) {
    var box = el('gr-notices');
    if (!box) return;
    if (key && box.querySelector('[data-key="' + key + '"]')) return;
    var div = document.createElement('div');
    div.className = 'gr-notice gr-' + (kind || 'info');
    if (key) div.dataset.key = key;
    div.textContent = message;
    var close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.title = '关闭';
    close.onclick = function () { div.remove(); };
    div.appendChild(close);
    box.appendChild(div);
  }

  // RFC 9457 problem bodies from the API: a zh-CN detail and per-field messages.
  function Problem(status, body) {
    body = body || {};
    this.status = status;
    this.detail = body.detail || body.title || ('请求失败（HTTP ' + status + '）');
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.message = this.detail + (this.errors.length ? '：' + this.errors.map(function (x) {
      return x.message;
    }).join('；') : '');
  }

  // --- token client -------------------------------------------------------------------------

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function forgetToken() { sessionStorage.removeItem(TOKEN_KEY); }
  // The bearer header for the API (fetch and vector tiles alike); none when signed out.
  function authHeaders() { return token() ? {Authorization: 'Bearer ' + token()} : {}; }
  function toLogin() {
    location.replace('/maps/login?next=' + encodeURIComponent(location.pathname + location.search));
  }
  function request(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {}, authHeaders());
    return fetch(url, Object.assign({}, options, {headers: headers})).then(function (r) {
      if (r.status === 401) {
        forgetToken();
        toLogin();
        throw new Problem(401, {detail: '登录已过期，请重新登录'});
      }
      if (!r.ok) {
        return r.json().catch(function () { return null; }).then(function (body) {
          throw new Problem(r.status, body);
        });
      }
      return r;
    });
  }
  function getJson(url) { return request(url).then(function (r) { return r.json(); }); }

  // A download that needs the bearer header: fetch, then hand the browser a blob.
  function download(url, fallbackName) {
    return request(url).then(function (r) {
      var name = fallbackName;
      var cd = r.headers.get('Content-Disposition') || '';
      var m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
      if (m) name = decodeURIComponent(m[1]);
      return r.blob().then(function (blob) {
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = name;
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      });
    }).catch(function (p) { notice('下载失败：' + p.message, 'error'); });
  }

  // The login page: trade the form for a token, then go back where the user came from.
  function login(cfg) {
    var form = el('gr-login');
    var params = new URLSearchParams(location.search);
    var next = params.get('next') || '/maps/';
    if (!/^\/maps(\/|$)/.test(next) || next.indexOf('//') >= 0) next = '/maps/';
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = new URLSearchParams({username: el('gr-username').value,
                                      password: el('gr-password').value});
      fetch(cfg.api + '/auth/token', {method: 'POST', body: body}).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) throw new Problem(r.status, data);
          sessionStorage.setItem(TOKEN_KEY, data.access_token);
          location.replace(next);
        });
      }).catch(function (p) {
        el('gr-login-error').textContent = p.message || '登录失败';
      });
    });
  }

  Object.assign(ns, {esc: esc, el: el, fmt: fmt, withCrs: withCrs, notice: notice,
                     token: token, forgetToken: forgetToken, authHeaders: authHeaders,
                     toLogin: toLogin, request: request, getJson: getJson, download: download,
                     login: login});
}(window.georegMaps = window.georegMaps || {}));
