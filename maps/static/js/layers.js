/* georeg map pages: the overlays. Each layer the page lists is made, fetched (from the API, or
 * from the static page's own data) in the current display coordinates, fitted, and fetched again
 * when a base map in other coordinates is chosen; plus the legend and the base tiles' warnings. */
(function (ns) {
  'use strict';

  var georeg = window.georeg;
  var esc = ns.esc, notice = ns.notice, withCrs = ns.withCrs;

  function noBounds() { return L.latLngBounds([]); }

  function makeLayer(spec) {
    var render = ns.RENDER[spec.render];
    var layer;
    if (spec.type === 'cluster') {
      layer = new ns.ClusterLayer(spec, render);
    } else if (spec.type === 'tiles') {
      layer = tileLayer(spec);
    } else {
      layer = L.geoJSON(null, {
        style: render.style ? function (f) { return render.style(f.properties); } : undefined,
        interactive: render.interactive !== false,
        pointToLayer: render.point,
        onEachFeature: function (f, l) {
          if (render.tooltip) l.bindTooltip(function () { return render.tooltip(f.properties, f); },
                                            {sticky: true});
          if (render.popup) l.bindPopup(function () { return render.popup(f.properties, f); });
          if (render.click) l.on('click', function () { render.click(f, l, layer); });
        }
      });
      layer.setData = function (fc) { layer.clearLayers(); if (fc) layer.addData(fc); };
      layer.dataBounds = function () { return layer.getBounds(); };
    }
    layer.spec = spec;
    georeg.layers[spec.id] = layer;
    if (spec.lazy) {
      layer.on('add', function () {
        if (layer._crs === georeg.crs) return;
        document.body.dataset.loading = spec.id;
        loadLayer(layer, georeg.crs).then(function () {
          requestAnimationFrame(function () { delete document.body.dataset.loading; });
        });
      });
    }
    if (spec.show !== false) layer.addTo(ns.map);
    if (ns.control) ns.control.addOverlay(layer, spec.name);
    return layer;
  }

  // Province scale: vector tiles from the API, aggregated by the server at low zoom.
  function tileLayer(spec) {
    if (!L.vectorGrid) {
      notice('缺少矢量瓦片组件（leaflet.vectorgrid），请重新安装地图前端资源', 'error');
      var empty = L.layerGroup();
      empty.setData = function () {};
      empty.dataBounds = noBounds;
      return empty;
    }
    var styles = ns.config.styles;
    var styleFor = function (p) {
      var n = p.count || 1;
      return {radius: n > 1 ? Math.min(4 + Math.log(n) * 2, 18) : 4, fill: true, fillOpacity: 0.8,
              fillColor: spec.render === 'entity' ? (styles.kindColors[p.kind] || '#1f5fa8') : '#5b8c2a',
              color: p.key_supervision ? styles.keyColor : '#fff', weight: 1};
    };
    var vectorStyles = {};
    vectorStyles[spec.id] = styleFor;
    var layer = L.vectorGrid.protobuf(withCrs(spec.url, georeg.crs), {
      vectorTileLayerStyles: vectorStyles, interactive: false, maxNativeZoom: 16,
      fetchOptions: {headers: ns.authHeaders()}
    });
    layer.setData = function () { layer.setUrl(withCrs(spec.url, georeg.crs)); };
    layer.dataBounds = noBounds;
    return layer;
  }

  // A layer hidden at first and marked lazy is fetched when it is first switched on (and again
  // after a change of display coordinates): no bytes for what nobody looks at.
  function wanted(layer) { return !layer.spec.lazy || ns.map.hasLayer(layer); }

  function loadLayer(layer, crs) {
    var spec = layer.spec;
    if (!wanted(layer)) return Promise.resolve();
    layer._crs = crs;
    if (spec.type === 'tiles') { layer.setData(); return Promise.resolve(); }
    var source;
    if (ns.config.mode === 'static') {
      var entry = (ns.config.data || {})[spec.id] || {};
      source = Promise.resolve(entry[crs] || null);
    } else if (spec.url) {
      source = ns.getJson(withCrs(spec.url, crs));
    } else {
      source = Promise.resolve(null);  // filled by the page (plan targets and area)
    }
    return source.then(function (fc) {
      if (fc) layer.setData(fc);
      return fc;
    }).catch(function (p) {
      notice('图层“' + spec.name + '”加载失败：' + (p.message || p), 'error');
      georeg.errors.push(String(p.message || p));
    });
  }

  function fit() {
    var bounds = L.latLngBounds([]);
    ns.config.layers.forEach(function (spec) {
      var layer = georeg.layers[spec.id];
      if (spec.fit && layer && layer.dataBounds) {
        var b = layer.dataBounds();
        if (b.isValid()) bounds.extend(b);
      }
    });
    if (bounds.isValid()) ns.map.fitBounds(bounds, {padding: [12, 12], animate: false});
  }

  // Vector tile layers in view: resolved once the tiles for the current view have arrived.
  function tilesDrawn() {
    return Promise.all(ns.config.layers.map(function (spec) {
      var layer = georeg.layers[spec.id];
      if (spec.type !== 'tiles' || !ns.map.hasLayer(layer) || !layer.isLoading ||
          !layer.isLoading()) return null;
      return new Promise(function (resolve) {
        layer.once('load', resolve);
        setTimeout(resolve, 30000);
      });
    }));
  }

  function setCrs(crs) {
    georeg.crs = crs;
    document.body.dataset.crs = 'loading';
    var jobs = ns.config.layers.map(function (spec) {
      return loadLayer(georeg.layers[spec.id], crs);
    });
    if (ns.page.crsChanged) jobs.push(ns.page.crsChanged(crs));
    return Promise.all(jobs).then(function () {
      document.body.dataset.crs = crs;
      if (crs === 'gcj02') notice('已切换到 GCJ-02 底图：叠加数据已转换为 GCJ-02 显示（仅供显示）',
                                  'info', 'gcj02');
    });
  }

  function watchTiles() {
    var warned = false;
    var control = ns.control;
    var layers = control ? control._layers.filter(function (x) { return !x.overlay; }) : [];
    layers.forEach(function (entry) {
      var tiles = entry.layer.getLayers ? entry.layer.getLayers() : [entry.layer];
      tiles.forEach(function (t) {
        t.on('tileerror', function () {
          if (warned) return;
          warned = true;
          notice('底图瓦片无法加载（可能无法访问互联网）；数据图层照常显示。', 'warn', 'tiles');
        });
      });
    });
    ns.map.on('baselayerchange', function (ev) {
      var crs = ns.config.baseLayers[ev.name] || 'wgs84';
      if (crs !== georeg.crs) setCrs(crs);
    });
  }

  function legend() {
    var c = L.control({position: 'bottomright'});
    c.onAdd = function () {
      var div = L.DomUtil.create('div', 'gr-legend');
      div.innerHTML = ns.config.legend.map(function (block) {
        return '<h3>' + esc(block.title) + '</h3>' + block.items.map(function (item) {
          return '<div><i class="gr-swatch gr-' + item.shape + '" style="--c:' + esc(item.color) +
            '"></i>' + esc(item.label) + '</div>';
        }).join('');
      }).join('');
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    c.addTo(ns.map);
  }

  Object.assign(ns, {makeLayer: makeLayer, loadLayer: loadLayer, fit: fit,
                     tilesDrawn: tilesDrawn, watchTiles: watchTiles, legend: legend});
}(window.georegMaps = window.georegMaps || {}));
