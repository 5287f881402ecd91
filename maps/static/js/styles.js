/* georeg map pages: how each kind of overlay looks (style, tooltip, popup, point marker), by
 * the `render` name the page gives a layer; colours and labels come from the page's config.
 * The drawing page adds its own grid renderer (draw.js). */
(function (ns) {
  'use strict';

  var esc = ns.esc, fmt = ns.fmt;

  function classColor(classes, value) {
    if (value === null || value === undefined) return ns.config.styles.noData;
    for (var i = 0; i < classes.length; i++) if (value >= classes[i][0]) return classes[i][1];
    return classes[classes.length - 1][1];
  }
  // A grid filled by the class of a percentage: `classes` names the config's class list.
  function choropleth(classes, field, fillOpacity) {
    return function (p) {
      return {color: '#555', weight: 1, fillOpacity: fillOpacity,
              fillColor: classColor(ns.config.styles[classes], p[field])};
    };
  }
  var COMMODITY_COLORS = {tea: '#3d7a28', cowpea: '#9acd32', chive: '#6b8e23', celery: '#8fbc8f'};
  function commodityColor(slug) { return COMMODITY_COLORS[slug] || '#5b8c2a'; }
  function pct(value) { return value === null || value === undefined ? '—' : fmt(value, 1) + '%'; }
  // A zh-CN label from the page's config (kinds, roles, flags), else the code itself.
  function label(group, code) { return ns.config.labels[group][code] || code; }

  // slug -> Chinese name, from the page's data or GET /commodities
  var commodities = {};
  function commodityName(slug) { return commodities[slug] || slug || '—'; }
  function learnCommodities(rows) {
    rows.forEach(function (r) { commodities[r.slug] = r.name_zh; });
  }

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
          (ns.config.mode === 'live' ? '<a href="/maps/townships/' + esc(p.code) +
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
      style: choropleth('coverage', 'daily_coverage_percent', 0.55),
      tooltip: function (p) {
        return '<b>' + esc(p.name) + '</b><br>监管员：' + esc(p.supervisor || '未设置') +
          '<br>协管员：' + esc((p.assistants || []).join('、') || '无') +
          '<br>生产主体 ' + fmt(p.producers) + '，农户 ' + fmt(p.smallholders) +
          '<br>日巡查覆盖率：' + pct(p.daily_coverage_percent) +
          '<br>本月巡查：' + fmt(p.monthly_patrols) + ' / 目标 ' + fmt(p.monthly_patrols_target);
      }
    },
    gridProvenance: {
      style: choropleth('completeness', 'percent_complete', 0.5),
      tooltip: function (p) {
        return '<b>' + esc(p.township_name) + ' · ' + esc(p.name) + '</b><br>应采集（主体×品种）' +
          fmt(p.pairs) + '，已采集 ' + fmt(p.collected) + '（' + pct(p.percent_complete) + '）' +
          '<br>待核查点位 ' + fmt(p.flagged_points);
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
        var p = f.properties, styles = ns.config.styles;
        return L.circleMarker(latlng, {
          radius: 6, fillColor: styles.kindColors[p.kind] || '#999', fillOpacity: 0.9,
          color: p.key_supervision ? styles.keyColor : '#ffffff', weight: p.key_supervision ? 3 : 1
        });
      },
      popup: function (p, f) {
        return '<b>' + esc(p.name) + '</b><br>' + esc(label('kinds', p.kind)) +
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
          return '<li>' + esc(label('flags', code)) + '</li>';
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
          esc(label('roles', p.role)) + '）<br>' +
          esc(label('kinds', p.kind)) + ' · ' + esc(p.commodity_name || commodityName(p.commodity)) +
          '<br>' + esc(p.township_name || '') + ' ' + esc(p.grid_name || '') +
          '<br>入样概率 ' + fmt(p.inclusion_probability, 4) +
          (p.weight_reasons && p.weight_reasons.length ? '<br>加权：' +
           esc(p.weight_reasons.join('、')) : '');
      }
    }
  };

  Object.assign(ns, {RENDER: RENDER, pct: pct, label: label, commodities: commodities,
                     commodityName: commodityName, learnCommodities: learnCommodities});
}(window.georegMaps = window.georegMaps || {}));
