"""A buf local plugin for the gRPC Python stubs (`*_pb2_grpc.py`).

grpcio-tools ships its protoc and the gRPC Python generator as one Python extension, with no
standalone `protoc-gen-grpc_python` binary, and buf's `protoc_builtin` only knows protoc's own
languages. So this plugin takes buf's CodeGeneratorRequest, hands its files to grpcio-tools'
protoc as a descriptor set (no .proto files are re-parsed) and returns what it wrote. The stubs
therefore come from the same pinned grpcio-tools as the messages (protoc_builtin python/pyi).

Run with the tools venv's Python (see buf.gen.clients.yaml).
"""

import os
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse()
    with tempfile.TemporaryDirectory() as scratch:
        descriptor_set = os.path.join(scratch, "input.binpb")
        with open(descriptor_set, "wb") as f:
            f.write(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        out = os.path.join(scratch, "out")
        os.mkdir(out)
        options = f"{request.parameter}:" if request.parameter else ""
        code = protoc.main(
            ["protoc", f"--descriptor_set_in={descriptor_set}", f"--grpc_python_out={options}{out}", *request.file_to_generate]
        )
        if code != 0:
            response.error = f"grpc_tools.protoc --grpc_python_out exited with {code}"
            return response
        for directory, _, names in sorted(os.walk(out)):
            for name in sorted(names):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    response.file.add(name=os.path.relpath(path, out), content=f.read())
    return response


if __name__ == "__main__":
    sys.stdout.buffer.write(generate(plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())).SerializeToString())
