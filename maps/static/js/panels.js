/* georeg map pages: the side panels of the county, township, provenance and plan pages, and the
 * display of a sampling plan (summary, target table, downloads, targets and area on the map),
 * which the drawing page shares. Pages register in `georegMaps.pages` under the config's `page`;
 * a page may have start(drawnItems), loaded() and crsChanged(crs). */
(function (ns) {
  'use strict';

  var georeg = window.georeg;
  var esc = ns.esc, el = ns.el, fmt = ns.fmt, pct = ns.pct, label = ns.label;

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
    if (ns.config.mode === 'static') return Promise.resolve((ns.config.data || {}).report);
    return ns.getJson(url);
  }

  // A report panel: its period picker (<select id=pickerId>) reloads the page with ?param=,
  // and the page's report, once fetched, is rendered into #gr-report.
  function reportPanel(pickerId, param, render) {
    var picker = el(pickerId);
    if (picker) picker.addEventListener('change', function () {
      if (picker.value) location.search = '?' + param + '=' + picker.value;
    });
    return reportData(ns.config.report).then(function (body) {
      el('gr-report').innerHTML = render(body);
    }).catch(function (p) { el('gr-report').textContent = p.message; });
  }

  // --- a sampling plan ------------------------------------------------------------------------

  function targetTable(plan) {
    return table([
      ['no', '序号'], [function (r) { return esc(label('roles', r.role)); }, '类别'],
      ['entity_name', '主体'], [function (r) { return esc(label('kinds', r.kind)); }, '类型'],
      [function (r) { return esc(r.commodity_name || ns.commodityName(r.commodity)); }, '品种'],
      [function (r) { return esc(r.grid_name || r.township_name || ''); }, '网格'],
      [function (r) { return fmt(r.inclusion_probability, 3); }, '入样概率']],
      plan.targets.map(function (t) {
        return Object.assign({_class: t.role === 'replacement' ? 'gr-replacement' : ''}, t);
      }), ' id="gr-targets"');
  }

  function planSummary(plan) {
    var config = ns.config;
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
      '<dt>检测方式</dt><dd>' + esc(plan.test_kind_label || config.labels.testKinds[plan.test_kind]) + '</dd>' +
      '<dt>品种</dt><dd>' + esc((plan.commodities || []).map(ns.commodityName).join('、')) + '</dd>' +
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
        ns.download(links[f], 'plan-' + plan.id + '.' + f);
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
    if (ns.config.mode === 'static') {
      targets.setData(targetFeatures(plan.targets));
      if (area) area.setData(ns.config.data.area);
      return Promise.resolve();
    }
    var jobs = [crs === 'wgs84' ? Promise.resolve(plan.targets)
      : ns.getJson(links.self + '/targets?format=json&crs=' + crs).then(function (b) {
        return b.targets;
      })];
    jobs[0] = jobs[0].then(function (rows) { targets.setData(targetFeatures(rows)); });
    if (area && links.area) {
      jobs.push(ns.getJson(ns.withCrs(links.area, crs)).then(function (f) { area.setData(f); }));
    }
    return Promise.all(jobs).catch(function (p) {
      ns.notice('抽样目标加载失败：' + p.message, 'error');
    });
  }

  // The plan becomes the page's plan: its summary in `box`, its targets and area on the map.
  function showPlan(box, plan) {
    georeg.plan = plan;
    box.innerHTML = planSummary(plan);
    wireDownloads(plan);
    return showPlanLayers(plan, georeg.crs);
  }

  // After a change of display coordinates: the page's plan (if any) again, in `crs`.
  function replotPlan(crs) {
    return georeg.plan ? showPlanLayers(georeg.plan, crs) : Promise.resolve();
  }

  // --- the pages ------------------------------------------------------------------------------

  var pages = ns.pages = ns.pages || {};

  pages.county = {};

  pages.township = {
    start: function () {
      return reportPanel('gr-month', 'month', function (body) {
        var row = (body.rows || []).filter(function (r) {
          return r.township_code === ns.config.township;
        })[0];
        return row ? table([
          ['producers', '生产主体数'], [function (r) { return pct(r.daily_coverage_percent); },
                                       '日巡查覆盖率'],
          [function (r) { return fmt(r.monthly_patrols) + ' / ' + fmt(r.monthly_patrols_target); },
           '本月巡查/目标'], ['behind_label', '落后项']], [row]) : '无数据';
      });
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
  };

  pages.provenance = {
    start: function () {
      return reportPanel('gr-year', 'year', function (body) {
        var rows = (body.rows || []).filter(function (r) { return r.entities > 0; });
        rows.forEach(function (r) { if (r.status === 'missed') r._class = 'gr-missed'; });
        return '<p class="gr-hint">截至 ' + esc(body.as_of) +
          '；仅列出有登记主体的乡镇与品种。</p>' + table([
            ['township_name', '乡镇'], ['commodity_name', '品种'],
            [function (r) { return fmt(r.collected) + '/' + fmt(r.entities); }, '已采/应采'],
            [function (r) { return pct(r.percent_complete); }, '完成率'],
            ['status_label', '情况']], rows);
      });
    }
  };

  // Static pages carry the plan and the commodity names (start.js has taken the latter).
  pages.plan = {
    start: function () {
      var config = ns.config;
      var source = config.mode === 'static' ? Promise.resolve(config.data.plan)
        : Promise.all([ns.getJson(config.plan), ns.getJson(config.api + '/commodities')]).then(
          function (both) {
            ns.learnCommodities(both[1]);
            return both[0];
          });
      return source.then(function (plan) {
        return showPlan(el('gr-result'), plan);
      }).catch(function (p) { el('gr-result').textContent = p.message; });
    },
    crsChanged: replotPlan
  };

  Object.assign(ns, {showPlan: showPlan, replotPlan: replotPlan});
}(window.georegMaps = window.georegMaps || {}));
