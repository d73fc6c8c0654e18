# portfwd built from this repository.
{ lib
, stdenv
, rustPlatform
, installShellFiles
,
}:
let
  manifest = builtins.fromTOML (builtins.readFile ../Cargo.toml);
in
rustPlatform.buildRustPackage {
  pname = "portfwd";
  inherit (manifest.package) version;

  src = lib.cleanSourceWith {
    src = ./..;
    # Build inputs only: changes to docs, tests/vm or nix/ do not rebuild the binary.
    filter =
      path: _type:
      let
        rel = lib.removePrefix (toString ./.. + "/") (toString path);
      in
      lib.any (p: rel == p || lib.hasPrefix "${p}/" rel) [
        "Cargo.toml"
        "Cargo.lock"
        "src"
        "tests"
        "examples"
        "schema"
      ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ installShellFiles ];

  # The real-kernel suite (tests/vm) needs QEMU and root; cargo's own tests run here. The
  # man page and completions come from the binary, which a cross build cannot run.
  postInstall = ''
    install -Dm644 schema/portfwd.schema.json $out/share/portfwd/portfwd.schema.json
  '' + lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    mkdir man
    $out/bin/portfwd manpage --dir man
    installManPage man/*.1
    installShellCompletion --cmd portfwd \
      --bash <($out/bin/portfwd completions bash) \
      --zsh <($out/bin/portfwd completions zsh) \
      --fish <($out/bin/portfwd completions fish)
  '';

  meta = {
    description = "Declarative port forwarding with Linux IPVS: plan and apply from one JSON file";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "portfwd";
    platforms = lib.platforms.linux;
  };
}
