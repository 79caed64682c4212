#!/usr/bin/env bash
# Renders the first page of the compiled reference report to docs/report_page1.png for the
# README. Needs ../shared (the reference events), LibreOffice and pdftoppm:
#   apt-get install libreoffice-writer-nogui poppler-utils fonts-liberation
# Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
fixture=${FIXTURE:-../shared/fixtures/report_2023_q4.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export DATABASE_URL="sqlite+aiosqlite:///$work/preview.db"
"$python" -m bot import "$fixture" --organisation "Правительство Смоленской области"
"$python" -m bot report 2023-Q4 --out "$work/report_2023_Q4.docx"
soffice --headless -env:UserInstallation="file://$work/lo" \
  --convert-to pdf --outdir "$work" "$work/report_2023_Q4.docx" >/dev/null
pdftoppm -png -r 70 -f 1 -l 1 -singlefile "$work/report_2023_Q4.pdf" docs/report_page1
echo "wrote docs/report_page1.png ($(pdfinfo "$work/report_2023_Q4.pdf" | awk '/^Pages/ {print $2}') pages in all)"
