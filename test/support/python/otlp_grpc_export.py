"""Exports spans with the OpenTelemetry Python SDK's OTLP/gRPC exporter, as a Python function does.

    python otlp_grpc_export.py <host:port> <spans> [gzip|none]

Prints one JSON line: the export result and the trace and span ids it sent.
"""

import json
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from grpc import Compression


def main() -> None:
    endpoint, count = sys.argv[1], int(sys.argv[2])
    compression = Compression.Gzip if (sys.argv[3] if len(sys.argv) > 3 else "none") == "gzip" else None
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "py-grpc-fn"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("py-grpc-test", "1.0.0")
    with tracer.start_as_current_span("handler") as root:
        for i in range(count - 1):
            with tracer.start_as_current_span(f"child-{i}", attributes={"i": i}):
                pass
    spans = memory.get_finished_spans()
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=compression, timeout=10)
    result = exporter.export(spans)
    exporter.shutdown()
    print(
        json.dumps(
            {
                "result": "success" if result == SpanExportResult.SUCCESS else "failure",
                "traceId": format(root.get_span_context().trace_id, "032x"),
                "spanIds": [format(s.context.span_id, "016x") for s in spans],
            }
        )
    )


if __name__ == "__main__":
    main()
