"""The web explorer behind `scenegraph serve`: a read-only JSON API and a page with a graph canvas.

The page's sources live in ``web/`` at the top of the checkout and are bundled into
``scenegraph/web/static/dist/`` by ``scripts/build-web.sh``.
"""
