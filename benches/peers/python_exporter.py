"""The peer a user might write instead: a Python prometheus_client exporter
serving the same series, re-encoded on every scrape.
Usage: python_exporter.py EXPOSITION_FILE PORT"""
import sys
import time

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.parser import text_string_to_metric_families


class FileCollector:
    """Yields the families parsed once from a file; prometheus_client encodes
    them again for each scrape, as a hand-written exporter would."""

    def __init__(self, text):
        self.families = list(text_string_to_metric_families(text))

    def collect(self):
        return iter(self.families)


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8") as f:
        text = "".join(line for line in f if "process_" not in line)
    REGISTRY.register(FileCollector(text))
    start_http_server(port, addr="127.0.0.1")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
