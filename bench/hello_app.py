"""The floor: a bare Flask + Jinja page, served by the same gunicorn settings as the tracker."""

from __future__ import annotations

from flask import Flask, render_template_string

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><ul>{% for n in numbers %}<li>{{ n }}</li>{% endfor %}</ul></body>
</html>"""

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return render_template_string(PAGE, title="你好", numbers=range(10))
