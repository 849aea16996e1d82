/**
 * Server reflection (v1 and v1alpha) over the real FileDescriptorProtos of the
 * generated files, with their real names and imports, so grpcurl can `list`
 * and `describe` with no proto files at hand.
 *
 * @grpc/reflection indexes whatever `fileDescriptorProtos` a package
 * definition carries. Building that definition with proto-loader would
 * re-derive the descriptors through protobufjs, which drops the
 * timestamp.proto import and renames map entry types (grpc-node #3034; the
 * health proto's map breaks grpcurl the same way), so we hand it the
 * descriptors protoc-gen-es embedded in gen/ instead.
 */
import { toBinary } from "@bufbuild/protobuf";
import type { DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Server } from "@grpc/grpc-js";

/** The files and every file they import, each once, dependencies first. */
export function filesWithDependencies(roots: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  roots.forEach(visit);
  return ordered;
}

/** Serialized FileDescriptorProtos of `roots` and their imports. */
export function fileDescriptorProtos(roots: readonly DescFile[]): Buffer[] {
  return filesWithDependencies(roots).map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
}

/** Adds reflection for the given generated files (and their imports) to a grpc-js server. */
export function addReflection(server: Pick<Server, "addService">, roots: readonly DescFile[]): void {
  // The reflection service reads `fileDescriptorProtos` from every value; one entry carries them all.
  // (Typed as the enum flavour of a proto-loader definition, the one that needs no codecs.)
  const packageDefinition: PackageDefinition = {
    "chatmemory.descriptors": {
      format: "Protocol Buffer 3 EnumDescriptorProto",
      type: {},
      fileDescriptorProtos: fileDescriptorProtos(roots),
    },
  };
  new ReflectionService(packageDefinition).addToServer(server);
}
