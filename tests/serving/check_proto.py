"""Checks proto/inference/*.proto against the descriptors tritonclient ships.

Every service method, message, field (name, number, type, label, message
type, oneof) and enum value we define must exist in Triton's
grpc_service.proto / model_config.proto with the same wire meaning; leaving
fields out is fine. Usage: check_proto.py PROTOC SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2
import tritonclient.grpc.model_config_pb2 as triton_config
import tritonclient.grpc.service_pb2 as triton_service


def load_ours(protoc, source_dir):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run([protoc, f"--proto_path={source_dir}", "--include_imports",
                        f"--descriptor_set_out={out}",
                        "proto/inference/grpc_service.proto"], check=True, cwd=source_dir)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    return list(fds.file)


def load_triton():
    files = []
    for module in (triton_service, triton_config):
        fd = descriptor_pb2.FileDescriptorProto()
        fd.ParseFromString(module.DESCRIPTOR.serialized_pb)
        files.append(fd)
    return files


def index(files):
    messages, enums, methods = {}, {}, {}

    def walk(prefix, msg):
        name = f"{prefix}.{msg.name}"
        messages[name] = msg
        for e in msg.enum_type:
            enums[f"{name}.{e.name}"] = e
        for nested in msg.nested_type:
            walk(name, nested)

    for fd in files:
        prefix = "." + fd.package
        for msg in fd.message_type:
            walk(prefix, msg)
        for e in fd.enum_type:
            enums[f"{prefix}.{e.name}"] = e
        for s in fd.service:
            for m in s.method:
                methods[f"{prefix}.{s.name}/{m.name}"] = m
    return messages, enums, methods


def main():
    protoc, source_dir = sys.argv[1], sys.argv[2]
    ours, theirs = index(load_ours(protoc, source_dir)), index(load_triton())
    errors = []
    checked = 0
    for path, m in ours[2].items():
        t = theirs[2].get(path)
        if t is None:
            errors.append(f"rpc {path}: not in Triton's service")
            continue
        for attr in ("input_type", "output_type", "client_streaming", "server_streaming"):
            if getattr(m, attr) != getattr(t, attr):
                errors.append(f"rpc {path}: {attr} {getattr(m, attr)} != {getattr(t, attr)}")
        checked += 1
    for name, msg in ours[0].items():
        t = theirs[0].get(name)
        if t is None:
            errors.append(f"message {name}: not in Triton's protos")
            continue
        tf = {f.number: f for f in t.field}
        for f in msg.field:
            g = tf.get(f.number)
            if g is None:
                errors.append(f"{name}.{f.name} #{f.number}: no such field number in Triton")
                continue
            for attr in ("name", "type", "label", "type_name"):
                if getattr(f, attr) != getattr(g, attr):
                    errors.append(f"{name}.{f.name} #{f.number}: {attr} "
                                  f"{getattr(f, attr)!r} != Triton's {getattr(g, attr)!r}")
            ours_oneof = msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
            their_oneof = t.oneof_decl[g.oneof_index].name if g.HasField("oneof_index") else None
            if ours_oneof != their_oneof:
                errors.append(f"{name}.{f.name}: oneof {ours_oneof} != {their_oneof}")
            checked += 1
    for name, e in ours[1].items():
        t = theirs[1].get(name)
        if t is None:
            errors.append(f"enum {name}: not in Triton's protos")
            continue
        tv = {v.name: v.number for v in t.value}
        for v in e.value:
            if tv.get(v.name) != v.number:
                errors.append(f"enum {name}.{v.name} = {v.number}, Triton's {tv.get(v.name)}")
            checked += 1
    for must in ("ModelInfer", "ModelStreamInfer", "ModelConfig", "ModelStatistics",
                 "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"):
        if f".inference.GRPCInferenceService/{must}" not in ours[2]:
            errors.append(f"rpc {must} missing")
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print(f"proto/inference matches tritonclient's descriptors ({checked} items checked)")


if __name__ == "__main__":
    main()
