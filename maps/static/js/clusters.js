/* georeg map pages: point layers as clusters (supercluster), redrawn for the view; a cluster
 * says how many of its points are on the key-supervision list or flagged for checking. */
(function (ns) {
  'use strict';

  ns.ClusterLayer = !window.L ? null : L.FeatureGroup.extend({
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
}(window.georegMaps = window.georegMaps || {}));
