/* georeg map pages: `georegMaps.start`, called by the page once folium has made the map. It
 * shows the signed-in user, makes and loads the overlays, runs the page's panel, fits the view
 * and then marks the page ready (document.body.dataset.ready, what tests and the bench wait for). */
(function (ns) {
  'use strict';

  var georeg = window.georeg;
  var el = ns.el, getJson = ns.getJson;

  function user() {
    var logout = el('gr-logout');
    if (logout) logout.onclick = function (ev) {
      ev.preventDefault();
      ns.forgetToken();
      location.href = '/maps/login';
    };
    return getJson(ns.config.api + '/auth/me').then(function (me) {
      var u = el('gr-user');
      if (u) u.textContent = me.display_name + '（' + me.role_label + '）';
    });
  }

  function start(leafletMap, layerControl, cfg, drawnItems) {
    ns.config = cfg;
    ns.map = georeg.map = leafletMap;
    ns.control = layerControl;
    var page = ns.page = ns.pages[cfg.page] || {};
    if (cfg.mode === 'static') Object.assign(ns.commodities, (cfg.data || {}).commodities || {});
    if (cfg.mode === 'live' && !ns.token()) { ns.toLogin(); return; }
    L.control.zoom({position: 'topleft', zoomInTitle: '放大', zoomOutTitle: '缩小'}).addTo(ns.map);
    ns.legend();
    ns.watchTiles();
    if (!Object.keys(cfg.baseLayers).length) {
      ns.notice('底图已关闭（GEOREG_MAP_TILES=false），仅显示数据图层。', 'info', 'tiles-off');
    }
    var started = performance.now();
    var layers = cfg.layers.map(ns.makeLayer);
    var jobs = [cfg.mode === 'live' ? user().catch(function () {}) : Promise.resolve()];
    if (cfg.mode === 'live' && cfg.page !== 'draw' && cfg.page !== 'plan') {
      // (the drawing and plan pages fetch the names themselves)
      jobs.push(getJson(cfg.api + '/commodities').then(ns.learnCommodities).catch(function () {}));
    }
    jobs = jobs.concat(layers.map(function (l) { return ns.loadLayer(l, georeg.crs); }));
    if (page.start) jobs.push(page.start(drawnItems));
    Promise.all(jobs).then(function () {
      ns.fit();
      if (page.loaded) page.loaded();
      return ns.tilesDrawn();
    }).then(function () {
      // the overlays are drawn once the map has fitted them: what tests and the bench wait for
      requestAnimationFrame(function () {
        georeg.ready = true;
        georeg.readyMs = performance.now() - started;
        georeg.readyAt = performance.now();  // since navigation start
        document.body.dataset.ready = '1';
        document.body.dataset.crs = georeg.crs;
      });
    });
  }

  // For tests: the position of a drawn feature (a marker, or a shape's first vertex).
  georeg.positionOf = function (layerId, featureId) {
    var found = null;
    var layer = georeg.layers[layerId];
    if (!layer) return null;
    layer.eachLayer(function (l) {
      var f = l.feature;
      if (found || !f || (f.id !== featureId && f.properties.id !== featureId &&
                          f.properties.no !== featureId)) return;
      var ll = l.getLatLng ? l.getLatLng() : null;
      if (!ll && l.getLatLngs) {
        var v = l.getLatLngs();
        while (Array.isArray(v)) v = v[0];
        ll = v;
      }
      found = ll ? {lat: ll.lat, lng: ll.lng} : null;
    });
    return found;
  };

  ns.start = start;
}(window.georegMaps = window.georegMaps || {}));
