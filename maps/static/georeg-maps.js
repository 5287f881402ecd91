/* georeg map pages: overlays from the API (or, in static pages, from the page itself).
 *
 * The page (maps/pages.py, built with folium) has made the map, its base layers, the layer
 * control and, on the drawing page, Leaflet.Draw; `georegMaps.start` loads the overlays,
 * re-loads them in GCJ-02 (`crs=gcj02`) while a GCJ-02 base map (Amap) is shown, and runs the
 * page's panel. Nothing is computed here that the API does not offer: sampling happens in
 * POST /api/v1/sampling/plans; this script only shows what comes back.
 * The login token lives in sessionStorage (this tab only) and goes out as a bearer header.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'georeg.token';
  var georeg = window.georeg = {ready: false, crs: 'wgs84', layers: {}, map: null, plan: null,
                                errors: []};

  if (window.L && L.drawLocal) {
    // Leaflet.Draw in Chinese
    var d = L.drawLocal.draw, e = L.drawLocal.edit;
    d.toolbar.actions = {title: '取消绘制', text: '取消'};
    d.toolbar.finish = {title: '完成绘制', text: '完成'};
    d.toolbar.undo = {title: '删除最后一个点', text: '删除最后一点'};
    d.toolbar.buttons.polygon = '绘制多边形范围';
    d.toolbar.buttons.rectangle = '绘制矩形范围';
    d.handlers.polygon.tooltip = {start: '单击开始绘制', cont: '单击继续绘制',
                                  end: '单击第一个点闭合多边形'};
    d.handlers.polyline.error = '<strong>错误：</strong>边界不能自相交！';
    d.handlers.rectangle.tooltip = {start: '按住鼠标拖动绘制矩形'};
    d.handlers.simpleshape.tooltip = {end: '松开鼠标完成绘制'};
    e.toolbar.actions = {save: {title: '保存修改', text: '保存'},
                         cancel: {title: '取消编辑，放弃修改', text: '取消'},
                         clearAll: {title: '清除全部范围', text: '全部清除'}};
    e.toolbar.buttons = {edit: '编辑范围', editDisabled: '没有可编辑的范围',
                         remove: '删除范围', removeDisabled: '没有可删除的范围'};
    e.handlers.edit.tooltip = {text: '拖动节点修改范围', subtext: '点击“取消”撤销修改'};
    e.handlers.remove.tooltip = {text: '点击要删除的范围'};
  }

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

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function toLogin() {
    location.replace('/maps/login?next=' + encodeURIComponent(location.pathname + location.search));
  }
  function request(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {});
    if (token()) headers.Authorization = 'Bearer ' + token();
    return fetch(url, Object.assign({}, options, {headers: headers})).then(function (r) {
      if (r.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
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

  // --- styles -------------------------------------------------------------------------------

  var config, map, control, styles, labels;

  function classColor(classes, value) {
    if (value === null || value === undefined) return styles.noData;
    for (var i = 0; i < classes.length; i++) if (value >= classes[i][0]) return classes[i][1];
    return classes[classes.length - 1][1];
  }
  var COMMODITY_COLORS = {tea: '#3d7a28', cowpea: '#9acd32', chive: '#6b8e23', celery: '#8fbc8f'};
  function commodityColor(slug) { return COMMODITY_COLORS[slug] || '#5b8c2a'; }
  function pct(value) { return value === null || value === undefined ? '—' : fmt(value, 1) + '%'; }

  var selectedGrids = {};

  var RENDER = {
    township: {
      style: function () { return {color: '#333', weight: 2, fillOpacity: 0.02, fillColor: '#333'}; },
      tooltip: function (p) {
        if (p.producer_count === undefined) return '<b>' + esc(p.name) + '</b>';
        return '<b>' + esc(p.name) + '</b><br>生产主体 ' + fmt(p.producer_count) + '，农户 ' +
          fmt(p.smallholder_count) + '，地块 ' + fmt(p.plot_count) + '，网格 ' + fmt(p.grid_count);
      },
      popup: function (p) {
        return '<b>' + esc(p.name) + '</b>（' + esc(p.code) + '）<br>' +
          (config.mode === 'live' ? '<a href="/maps/townships/' + esc(p.code) +
           '">查看网格与巡查进度 →</a>' : '');
      }
    },
    townshipOutline: {
      style: function () { return {color: '#222', weight: 3, fill: false}; },
      interactive: false
    },
    grid: {
      style: function () { return {color: '#3366cc', weight: 1, dashArray: '4 3', fill: false}; },
      interactive: false
    },
    gridPatrol: {
      style: function (p) {
        return {color: '#555', weight: 1, fillOpacity: 0.55,
                fillColor: classColor(styles.coverage, p.daily_coverage_percent)};
      },
      tooltip: function (p) {
        return '<b>' + esc(p.name) + '</b><br>监管员：' + esc(p.supervisor || '未设置') +
          '<br>协管员：' + esc((p.assistants || []).join('、') || '无') +
          '<br>生产主体 ' + fmt(p.producers) + '，农户 ' + fmt(p.smallholders) +
          '<br>日巡查覆盖率：' + pct(p.daily_coverage_percent) +
          '<br>本月巡查：' + fmt(p.monthly_patrols) + ' / 目标 ' + fmt(p.monthly_patrols_target);
      }
    },
    gridProvenance: {
      style: function (p) {
        return {color: '#555', weight: 1, fillOpacity: 0.5,
                fillColor: classColor(styles.completeness, p.percent_complete)};
      },
      tooltip: function (p) {
        return '<b>' + esc(p.township_name) + ' · ' + esc(p.name) + '</b><br>应采集（主体×品种）' +
          fmt(p.pairs) + '，已采集 ' + fmt(p.collected) + '（' + pct(p.percent_complete) + '）' +
          '<br>待核查点位 ' + fmt(p.flagged_points);
      }
    },
    gridPick: {
      style: function (p) {
        var on = selectedGrids[p.id];
        return {color: on ? '#c0392b' : '#3366cc', weight: on ? 2 : 1, fillColor: '#f4a259',
                fillOpacity: on ? 0.45 : 0.05};
      },
      tooltip: function (p) {
        return '<b>' + esc(p.township_name) + ' · ' + esc(p.name) + '</b><br>生产主体 ' +
          fmt(p.producers) + '，农户 ' + fmt(p.smallholders) + '<br>点击选择或取消';
      },
      click: function (feature, layer, group) {
        var id = feature.properties.id;
        if (selectedGrids[id]) delete selectedGrids[id]; else selectedGrids[id] = true;
        group.resetStyle(layer);
        drawPage.summarise();
      }
    },
    plotShape: {
      style: function (p) {
        return {color: commodityColor(p.commodity), weight: 1, fillOpacity: 0.4};
      },
      tooltip: function (p, f) {
        return '地块 #' + esc(f.id) + ' · ' + esc(commodityName(p.commodity)) +
          (p.area_mu ? ' · ' + fmt(p.area_mu, 2) + ' 亩' : '');
      }
    },
    area: {
      style: function () { return {color: '#d62728', weight: 2, dashArray: '6 4', fillOpacity: 0.04}; },
      interactive: false
    },
    entity: {
      point: function (f, latlng) {
        var p = f.properties;
        return L.circleMarker(latlng, {
          radius: 6, fillColor: styles.kindColors[p.kind] || '#999', fillOpacity: 0.9,
          color: p.key_supervision ? styles.keyColor : '#ffffff', weight: p.key_supervision ? 3 : 1
        });
      },
      popup: function (p, f) {
        return '<b>' + esc(p.name) + '</b><br>' + esc(labels.kinds[p.kind] || p.kind) +
          (p.key_supervision ? '<br><span class="gr-key">重点监管名单</span>' : '') +
          '<br>编号 ' + esc(f.id);
      },
      cluster: 'gr-cluster-entity'
    },
    plot: {
      point: function (f, latlng) {
        return L.circleMarker(latlng, {radius: 3, weight: 0, fillOpacity: 0.8,
                                       fillColor: commodityColor(f.properties.commodity)});
      },
      popup: function (p, f) {
        return '地块 #' + esc(f.id) + '<br>品种：' + esc(commodityName(p.commodity)) +
          (p.area_mu ? '<br>面积：' + fmt(p.area_mu, 2) + ' 亩' : '') + '<br>主体编号 ' + p.entity_id;
      },
      cluster: 'gr-cluster-plot'
    },
    sitePoint: {
      point: function (f, latlng) {
        var flagged = (f.properties.flags || []).length > 0;
        return L.circleMarker(latlng, {radius: 6, color: '#fff', weight: 1, fillOpacity: 0.9,
                                       fillColor: flagged ? '#ff7f0e' : '#2ca02c'});
      },
      popup: function (p) {
        var flags = (p.flags || []).map(function (code) {
          return '<li>' + esc(labels.flags[code] || code) + '</li>';
        }).join('');
        return '<b>' + esc(p.entity_name) + '</b><br>品种：' + esc(commodityName(p.commodity)) +
          '<br>采集时间：' + esc(p.collected_at) + '<br>定位精度：' +
          (p.accuracy_m === null ? '未提供' : fmt(p.accuracy_m, 1) + ' 米') +
          (flags ? '<br>待核查：<ul>' + flags + '</ul>' : '<br>无待核查标记');
      },
      cluster: 'gr-cluster-site'
    },
    target: {
      point: function (f, latlng) {
        var p = f.properties;
        return L.marker(latlng, {
          title: '目标 ' + p.no,
          icon: L.divIcon({className: 'gr-target gr-' + (p.role || 'base'),
                           html: '<span>' + esc(p.no) + '</span>', iconSize: [26, 26]})
        });
      },
      popup: function (p) {
        return '<b>' + esc(p.no) + '. ' + esc(p.entity_name) + '</b>（' +
          esc(labels.roles[p.role] || p.role) + '）<br>' +
          esc(labels.kinds[p.kind] || p.kind) + ' · ' + esc(p.commodity_name || commodityName(p.commodity)) +
          '<br>' + esc(p.township_name || '') + ' ' + esc(p.grid_name || '') +
          '<br>入样概率 ' + fmt(p.inclusion_probability, 4) +
          (p.weight_reasons && p.weight_reasons.length ? '<br>加权：' +
           esc(p.weight_reasons.join('、')) : '');
      }
    }
  };

  var commodities = {};
  function commodityName(slug) { return commodities[slug] || slug || '—'; }

  // --- point clusters (supercluster), redrawn for the view -------------------------------------

  var ClusterLayer = !window.L ? null : L.FeatureGroup.extend({
    initialize: function (spec, render) {
      L.FeatureGroup.prototype.initialize.call(this, []);
      this._spec = spec;
      this._render = render;
      this._data = {type: 'FeatureCollection', features: []};
      this._index = null;
    },
    setData: function (fc) {
      this._data = fc;
      this._index = new Supercluster({
        radius: 70, maxZoom: 16,
        map: function (p) { return {key: p.key_supervision ? 1 : 0,
                                    flagged: p.flags && p.flags.length ? 1 : 0}; },
        reduce: function (a, b) { a.key += b.key; a.flagged += b.flagged; }
      }).load(fc.features);
      this._update();
    },
    onAdd: function (m) {
      L.FeatureGroup.prototype.onAdd.call(this, m);
      m.on('moveend', this._update, this);
      this._update();
    },
    onRemove: function (m) {
      m.off('moveend', this._update, this);
      L.FeatureGroup.prototype.onRemove.call(this, m);
    },
    dataBounds: function () {
      var b = L.latLngBounds([]);
      this._data.features.forEach(function (f) {
        var c = f.geometry.coordinates;
        b.extend([c[1], c[0]]);
      });
      return b;
    },
    _update: function () {
      if (!this._map || !this._index) return;
      var b = this._map.getBounds().pad(0.25);
      var items = this._index.getClusters([Math.max(-180, b.getWest()), Math.max(-85, b.getSouth()),
                                           Math.min(180, b.getEast()), Math.min(85, b.getNorth())],
                                          Math.round(this._map.getZoom()));
      this.clearLayers();
      var render = this._render, self = this;
      items.forEach(function (f) {
        var c = f.geometry.coordinates, latlng = L.latLng(c[1], c[0]);
        var layer = f.properties.cluster ? self._cluster(f, latlng) : render.point(f, latlng);
        if (!f.properties.cluster) {
          layer.feature = f;
          if (render.popup) layer.bindPopup(function () { return render.popup(f.properties, f); });
        }
        self.addLayer(layer);
      });
    },
    _cluster: function (f, latlng) {
      var p = f.properties, n = p.point_count, self = this;
      var size = n < 100 ? 'small' : n < 1000 ? 'medium' : 'large';
      var px = {small: 30, medium: 38, large: 46}[size];
      var extra = p.key ? ' gr-cluster-key' : p.flagged ? ' gr-cluster-flagged' : '';
      var marker = L.marker(latlng, {icon: L.divIcon({
        html: '<div><span>' + p.point_count_abbreviated + '</span></div>',
        className: 'gr-cluster gr-cluster-' + size + ' ' + (this._render.cluster || '') + extra,
        iconSize: [px, px]})});
      marker.bindTooltip(n.toLocaleString('zh-CN') + ' 个' + (p.key ? '，其中重点监管 ' + p.key : '') +
                         (p.flagged ? '，其中待核查 ' + p.flagged : '') + '；点击放大');
      marker.on('click', function () {
        self._map.setView(latlng, Math.min(self._index.getClusterExpansionZoom(p.cluster_id), 18));
      });
      return marker;
    }
  });

  // --- layers -------------------------------------------------------------------------------

  function makeLayer(spec) {
    var render = RENDER[spec.render];
    var layer;
    if (spec.type === 'cluster') {
      layer = new ClusterLayer(spec, render);
    } else if (spec.type === 'tiles') {
      layer = tileLayer(spec, render);
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
    if (spec.show !== false) layer.addTo(map);
    if (control) control.addOverlay(layer, spec.name);
    return layer;
  }

  // Province scale: vector tiles from the API, aggregated by the server at low zoom.
  function tileLayer(spec, render) {
    if (!L.vectorGrid) {
      notice('缺少矢量瓦片组件（leaflet.vectorgrid），请重新安装地图前端资源', 'error');
      var empty = L.layerGroup();
      empty.setData = function () {};
      empty.dataBounds = function () { return L.latLngBounds([]); };
      return empty;
    }
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
      fetchOptions: {headers: token() ? {Authorization: 'Bearer ' + token()} : {}}
    });
    layer.setData = function () { layer.setUrl(withCrs(spec.url, georeg.crs)); };
    layer.dataBounds = function () { return L.latLngBounds([]); };
    return layer;
  }

  // A layer hidden at first and marked lazy is fetched when it is first switched on (and again
  // after a change of display coordinates): no bytes for what nobody looks at.
  function wanted(layer) { return !layer.spec.lazy || map.hasLayer(layer); }

  function loadLayer(layer, crs) {
    var spec = layer.spec;
    if (!wanted(layer)) return Promise.resolve();
    layer._crs = crs;
    if (spec.type === 'tiles') { layer.setData(); return Promise.resolve(); }
    var source;
    if (config.mode === 'static') {
      var entry = (config.data || {})[spec.id] || {};
      source = Promise.resolve(entry[crs] || null);
    } else if (spec.url) {
      source = getJson(withCrs(spec.url, crs));
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
    config.layers.forEach(function (spec) {
      var layer = georeg.layers[spec.id];
      if (spec.fit && layer && layer.dataBounds) {
        var b = layer.dataBounds();
        if (b.isValid()) bounds.extend(b);
      }
    });
    if (bounds.isValid()) map.fitBounds(bounds, {padding: [12, 12], animate: false});
  }

  // Vector tile layers in view: resolved once the tiles for the current view have arrived.
  function tilesDrawn() {
    return Promise.all(config.layers.map(function (spec) {
      var layer = georeg.layers[spec.id];
      if (spec.type !== 'tiles' || !map.hasLayer(layer) || !layer.isLoading ||
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
    var jobs = config.layers.map(function (spec) {
      return loadLayer(georeg.layers[spec.id], crs);
    });
    if (page.crsChanged) jobs.push(page.crsChanged(crs));
    return Promise.all(jobs).then(function () {
      document.body.dataset.crs = crs;
      if (crs === 'gcj02') notice('已切换到 GCJ-02 底图：叠加数据已转换为 GCJ-02 显示（仅供显示）',
                                  'info', 'gcj02');
    });
  }

  function watchTiles() {
    var warned = false;
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
    map.on('baselayerchange', function (ev) {
      var crs = config.baseLayers[ev.name] || 'wgs84';
      if (crs !== georeg.crs) setCrs(crs);
    });
  }

  function legend() {
    var c = L.control({position: 'bottomright'});
    c.onAdd = function () {
      var div = L.DomUtil.create('div', 'gr-legend');
      div.innerHTML = config.legend.map(function (block) {
        return '<h3>' + esc(block.title) + '</h3>' + block.items.map(function (item) {
          return '<div><i class="gr-swatch gr-' + item.shape + '" style="--c:' + esc(item.color) +
            '"></i>' + esc(item.label) + '</div>';
        }).join('');
      }).join('');
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    c.addTo(map);
  }

  // --- page panels --------------------------------------------------------------------------

  function table(columns, rows, attrs) {
    return '<table class="gr-table"' + (attrs || '') + '><thead><tr>' + columns.map(function (c) {
      return '<th>' + esc(c[1]) + '</th>';
    }).join('') + '</tr></thead><tbody>' + rows.map(function (r) {
      return '<tr' + (r._class ? ' class="' + r._class + '"' : '') + '>' + columns.map(function (c) {
        var v = typeof c[0] === 'function' ? c[0](r) : fmt(r[c[0]]);
        return '<td>' + v + '</td>';
      }).join('') + '</tr>';
    }).join('') + '</tbody></table>';
  }

  function reportData(url) {
    if (config.mode === 'static') return Promise.resolve((config.data || {}).report);
    return getJson(url);
  }

  var pages = {
    county: {},
    township: {
      start: function () {
        var month = el('gr-month');
        if (month) month.addEventListener('change', function () {
          if (month.value) location.search = '?month=' + month.value;
        });
        return reportData(config.report).then(function (body) {
          var row = (body.rows || []).filter(function (r) {
            return r.township_code === config.township;
          })[0];
          el('gr-report').innerHTML = row ? table([
            ['producers', '生产主体数'], [function (r) { return pct(r.daily_coverage_percent); },
                                         '日巡查覆盖率'],
            [function (r) { return fmt(r.monthly_patrols) + ' / ' + fmt(r.monthly_patrols_target); },
             '本月巡查/目标'], ['behind_label', '落后项']], [row]) : '无数据';
        }).catch(function (p) { el('gr-report').textContent = p.message; });
      },
      loaded: function () {
        var grids = georeg.layers.grids;
        var rows = [];
        grids.eachLayer(function (l) { rows.push(l.feature.properties); });
        el('gr-grid-table').innerHTML = table([
          ['name', '网格'], [function (r) { return esc(r.supervisor || '未设置'); }, '监管员'],
          ['producers', '主体'], [function (r) { return pct(r.daily_coverage_percent); }, '覆盖率'],
          [function (r) { return fmt(r.monthly_patrols) + '/' + fmt(r.monthly_patrols_target); },
           '巡查/目标']], rows);
      }
    },
    provenance: {
      start: function () {
        var year = el('gr-year');
        if (year) year.addEventListener('change', function () {
          if (year.value) location.search = '?year=' + year.value;
        });
        return reportData(config.report).then(function (body) {
          var rows = (body.rows || []).filter(function (r) { return r.entities > 0; });
          rows.forEach(function (r) { if (r.status === 'missed') r._class = 'gr-missed'; });
          el('gr-report').innerHTML = '<p class="gr-hint">截至 ' + esc(body.as_of) +
            '；仅列出有登记主体的乡镇与品种。</p>' + table([
              ['township_name', '乡镇'], ['commodity_name', '品种'],
              [function (r) { return fmt(r.collected) + '/' + fmt(r.entities); }, '已采/应采'],
              [function (r) { return pct(r.percent_complete); }, '完成率'],
              ['status_label', '情况']], rows);
        }).catch(function (p) { el('gr-report').textContent = p.message; });
      }
    },
    draw: drawPageHandlers(),
    plan: planPageHandlers()
  };
  var page = {};
  var drawPage = pages.draw;

  function targetTable(plan) {
    return table([
      ['no', '序号'], [function (r) { return esc(labels.roles[r.role] || r.role); }, '类别'],
      ['entity_name', '主体'], [function (r) { return esc(labels.kinds[r.kind] || r.kind); }, '类型'],
      [function (r) { return esc(r.commodity_name || commodityName(r.commodity)); }, '品种'],
      [function (r) { return esc(r.grid_name || r.township_name || ''); }, '网格'],
      [function (r) { return fmt(r.inclusion_probability, 3); }, '入样概率']],
      plan.targets.map(function (t) {
        return Object.assign({_class: t.role === 'replacement' ? 'gr-replacement' : ''}, t);
      }), ' id="gr-targets"');
  }

  function planSummary(plan) {
    var s = plan.smallholder || {};
    var links = plan.links || {};
    var buttons = config.mode === 'live' ? '<div class="gr-buttons">' +
      '<button type="button" data-download="csv">下载 CSV</button>' +
      '<button type="button" data-download="xlsx">下载 XLSX</button>' +
      '<button type="button" data-download="geojson">下载 GeoJSON</button>' +
      (config.page !== 'plan' && links.map ? '<a class="gr-button" id="gr-plan-link" href="' +
       esc(links.map) + '">打开方案页</a>' : '') + '</div>' : '';
    return '<h2>' + esc(plan.name || ('抽样方案 #' + plan.id)) + '</h2>' +
      '<dl class="gr-facts">' +
      '<dt>方案编号</dt><dd>' + esc(plan.id) + '</dd>' +
      '<dt>检测方式</dt><dd>' + esc(plan.test_kind_label || labels.testKinds[plan.test_kind]) + '</dd>' +
      '<dt>品种</dt><dd>' + esc((plan.commodities || []).map(commodityName).join('、')) + '</dd>' +
      '<dt>样本量</dt><dd>' + fmt(plan.n) + '（抽样框 ' + fmt(plan.frame_size) + '）</dd>' +
      '<dt>方法 / 种子</dt><dd>' + esc(plan.method_label || plan.method) + ' / ' + esc(plan.seed) + '</dd>' +
      (plan.area_km2 !== undefined ? '<dt>范围面积</dt><dd>' + fmt(plan.area_km2, 2) + ' 平方千米</dd>' : '') +
      (plan.balance && plan.balance.pielou !== undefined && plan.balance.pielou !== null ?
        '<dt>空间均衡度</dt><dd>' + fmt(plan.balance.pielou, 3) + '（简单随机约 ' +
        fmt(plan.balance.srs_mean, 3) + '，越小越均衡）</dd>' : '') +
      '<dt>农户样本</dt><dd>' + fmt(s.selected) + ' / 至少 ' + fmt(s.required) +
      (s.met === false ? ' <span class="gr-key">未达到</span>' : '') + '</dd>' +
      (s.message ? '<dt>说明</dt><dd>' + esc(s.message) + '</dd>' : '') +
      (plan.created_at ? '<dt>生成时间</dt><dd>' + esc(new Date(plan.created_at).toLocaleString(
        'zh-CN', {timeZone: 'Asia/Shanghai', hour12: false})) + '</dd>' : '') +
      '</dl>' + buttons + targetTable(plan);
  }

  function wireDownloads(plan) {
    var links = plan.links || {};
    document.querySelectorAll('[data-download]').forEach(function (b) {
      b.onclick = function () {
        var f = b.dataset.download;
        download(links[f], 'plan-' + plan.id + '.' + f);
      };
    });
  }

  function targetFeatures(targets) {
    return {type: 'FeatureCollection', features: targets.map(function (t) {
      return {type: 'Feature', id: t.no, geometry: {type: 'Point', coordinates: [t.lon, t.lat]},
              properties: t};
    })};
  }

  // Targets and area of a plan, in the current display coordinates. The targets come with the
  // plan (WGS 84) or, for GCJ-02, from its targets in JSON with crs=gcj02.
  function showPlanLayers(plan, crs) {
    var links = plan.links || {};
    var targets = georeg.layers.targets, area = georeg.layers.area;
    if (config.mode === 'static') {
      targets.setData(targetFeatures(plan.targets));
      if (area) area.setData(config.data.area);
      return Promise.resolve();
    }
    var jobs = [crs === 'wgs84' ? Promise.resolve(plan.targets)
      : getJson(links.self + '/targets?format=json&crs=' + crs).then(function (b) {
        return b.targets;
      })];
    jobs[0] = jobs[0].then(function (rows) { targets.setData(targetFeatures(rows)); });
    if (area && links.area) {
      jobs.push(getJson(withCrs(links.area, crs)).then(function (f) { area.setData(f); }));
    }
    return Promise.all(jobs).catch(function (p) { notice('抽样目标加载失败：' + p.message, 'error'); });
  }

  function drawPageHandlers() {
    var drawn = null;
    var handlers = {
      summarise: function () {
        var polygons = drawn ? drawn.getLayers().length : 0;
        var grids = Object.keys(selectedGrids).length;
        var box = el('gr-area-summary');
        if (box) box.textContent = polygons || grids ? '已选范围：绘制 ' + polygons + ' 个，网格 ' +
          grids + ' 个' : '尚未选择范围';
      },
      start: function (drawnItems) {
        drawn = georeg.drawn = drawnItems;
        map.on('draw:created draw:deleted draw:edited', function () {
          setTimeout(handlers.summarise, 0);
        });
        var select = el('gr-commodity');
        var form = el('gr-plan-form');
        el('gr-clear').onclick = function () {
          drawn.clearLayers();
          selectedGrids = {};
          if (georeg.layers.grids) georeg.layers.grids.resetStyle();
          handlers.summarise();
        };
        form.addEventListener('submit', function (ev) {
          ev.preventDefault();
          handlers.submit();
        });
        return getJson(config.api + '/commodities').then(function (rows) {
          select.innerHTML = rows.map(function (r) {
            commodities[r.slug] = r.name_zh;
            return '<option value="' + esc(r.slug) + '">' + esc(r.name_zh) +
              (r.key_risk ? '（重点风险品种）' : '') + '</option>';
          }).join('');
        });
      },
      body: function () {
        var area = {};
        var polygons = drawn.getLayers().map(function (l) { return l.toGeoJSON().geometry; });
        if (polygons.length) area.polygons = polygons;
        var grids = Object.keys(selectedGrids).map(Number);
        if (grids.length) area.grids = grids;
        var number = function (id) {
          var v = el(id).value;
          return v === '' ? null : Number(v);
        };
        var body = {area: area, crs: georeg.crs, commodities: [el('gr-commodity').value],
                    n: number('gr-n'), test_kind: el('gr-test_kind').value,
                    smallholder_share: number('gr-smallholder_share'),
                    replacements: number('gr-replacements')};
        var name = el('gr-name').value.trim();
        if (name) body.name = name;
        return body;
      },
      submit: function () {
        var errors = el('gr-errors'), result = el('gr-result'), button = el('gr-select');
        errors.innerHTML = '';
        document.querySelectorAll('.gr-invalid').forEach(function (x) {
          x.classList.remove('gr-invalid');
        });
        button.disabled = true;
        button.textContent = '选取中…';
        document.body.dataset.plan = 'loading';
        return request(config.api + '/sampling/plans', {
          method: 'POST', headers: {'Content-Type': 'application/json'},
          body: JSON.stringify(handlers.body())
        }).then(function (r) { return r.json(); }).then(function (plan) {
          georeg.plan = plan;
          result.innerHTML = planSummary(plan);
          wireDownloads(plan);
          return showPlanLayers(plan, georeg.crs).then(function () {
            document.body.dataset.plan = String(plan.id);
          });
        }).catch(function (p) {
          document.body.dataset.plan = 'error';
          var items = (p.errors || []).map(function (x) {
            var input = el('gr-' + String(x.field).split('.')[0]);
            if (input) input.classList.add('gr-invalid');
            return '<li>' + esc(x.message) + '</li>';
          });
          errors.innerHTML = '<p>' + esc(p.detail || p.message) + '</p>' +
            (items.length ? '<ul>' + items.join('') + '</ul>' : '');
        }).finally(function () {
          button.disabled = false;
          button.textContent = '选取';
        });
      },
      crsChanged: function (crs) {
        // Drawn shapes are in the coordinates of the base map they were drawn on.
        if (drawn && drawn.getLayers().length) {
          drawn.clearLayers();
          handlers.summarise();
          notice('底图坐标系已改变，已清除绘制的范围，请重新绘制。', 'warn');
        }
        return georeg.plan ? showPlanLayers(georeg.plan, crs) : Promise.resolve();
      }
    };
    return handlers;
  }

  function planPageHandlers() {
    return {
      start: function () {
        var source = config.mode === 'static' ? Promise.resolve(config.data.plan)
          : Promise.all([getJson(config.plan), getJson(config.api + '/commodities')]).then(
            function (both) {
              both[1].forEach(function (r) { commodities[r.slug] = r.name_zh; });
              return both[0];
            });
        return source.then(function (plan) {
          if (config.mode === 'static') Object.assign(commodities, config.data.commodities || {});
          georeg.plan = plan;
          el('gr-result').innerHTML = planSummary(plan);
          wireDownloads(plan);
          return showPlanLayers(plan, georeg.crs);
        }).catch(function (p) { el('gr-result').textContent = p.message; });
      },
      crsChanged: function (crs) {
        return georeg.plan ? showPlanLayers(georeg.plan, crs) : Promise.resolve();
      }
    };
  }

  // --- start --------------------------------------------------------------------------------

  function user() {
    var logout = el('gr-logout');
    if (logout) logout.onclick = function (ev) {
      ev.preventDefault();
      sessionStorage.removeItem(TOKEN_KEY);
      location.href = '/maps/login';
    };
    return getJson(config.api + '/auth/me').then(function (me) {
      var u = el('gr-user');
      if (u) u.textContent = me.display_name + '（' + me.role_label + '）';
    });
  }

  function start(leafletMap, layerControl, cfg, drawnItems) {
    config = cfg;
    map = georeg.map = leafletMap;
    control = layerControl;
    styles = cfg.styles;
    labels = cfg.labels;
    page = pages[cfg.page] || {};
    if (cfg.mode === 'static') Object.assign(commodities, (cfg.data || {}).commodities || {});
    if (cfg.mode === 'live' && !token()) { toLogin(); return; }
    L.control.zoom({position: 'topleft', zoomInTitle: '放大', zoomOutTitle: '缩小'}).addTo(map);
    legend();
    watchTiles();
    if (!Object.keys(cfg.baseLayers).length) {
      notice('底图已关闭（GEOREG_MAP_TILES=false），仅显示数据图层。', 'info', 'tiles-off');
    }
    var started = performance.now();
    var layers = cfg.layers.map(makeLayer);
    var jobs = [cfg.mode === 'live' ? user().catch(function () {}) : Promise.resolve()];
    if (cfg.mode === 'live' && cfg.page !== 'draw' && cfg.page !== 'plan') {
      jobs.push(getJson(cfg.api + '/commodities').then(function (rows) {
        rows.forEach(function (r) { commodities[r.slug] = r.name_zh; });
      }).catch(function () {}));
    }
    jobs = jobs.concat(layers.map(function (l) { return loadLayer(l, georeg.crs); }));
    if (page.start) jobs.push(page.start(drawnItems));
    Promise.all(jobs).then(function () {
      fit();
      if (page.loaded) page.loaded();
      return tilesDrawn();
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

  window.georegMaps = {start: start, login: login};
}());
