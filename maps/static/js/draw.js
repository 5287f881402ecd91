/* georeg map pages: the drawing page (/maps/draw). The area is drawn polygons (Leaflet.Draw, in
 * Chinese here) and/or grids picked by clicking; 选取 posts it with the form to
 * POST /api/v1/sampling/plans and shows the plan that comes back. */
(function (ns) {
  'use strict';

  var georeg = window.georeg;
  var esc = ns.esc, el = ns.el, fmt = ns.fmt;

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

  var selectedGrids = {};  // grid id -> true, for the grids picked as (part of) the area

  ns.RENDER.gridPick = {
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
      handlers.summarise();
    }
  };

  var drawn = null;
  var handlers = ns.pages.draw = {
    summarise: function () {
      var polygons = drawn ? drawn.getLayers().length : 0;
      var grids = Object.keys(selectedGrids).length;
      var box = el('gr-area-summary');
      if (box) box.textContent = polygons || grids ? '已选范围：绘制 ' + polygons + ' 个，网格 ' +
        grids + ' 个' : '尚未选择范围';
    },
    start: function (drawnItems) {
      drawn = georeg.drawn = drawnItems;
      ns.map.on('draw:created draw:deleted draw:edited', function () {
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
      return ns.getJson(ns.config.api + '/commodities').then(function (rows) {
        ns.learnCommodities(rows);
        select.innerHTML = rows.map(function (r) {
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
      return ns.request(ns.config.api + '/sampling/plans', {
        method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify(handlers.body())
      }).then(function (r) { return r.json(); }).then(function (plan) {
        return ns.showPlan(result, plan).then(function () {
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
        ns.notice('底图坐标系已改变，已清除绘制的范围，请重新绘制。', 'warn');
      }
      return ns.replotPlan(crs);
    }
  };
}(window.georegMaps = window.georegMaps || {}));
