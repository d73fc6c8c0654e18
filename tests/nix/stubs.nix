# What the nixpkgs lib/ snapshot used by tests/nix/run lacks, declared here as named stubs:
# the option declarations of modules it does not ship (kernel.nix, networking, environment,
# systemd.nix) and the few pkgs functions the module calls. Types of the real modules are
# used wherever the snapshot has them (the systemd service type comes from its utils.nix).
{ lib, nixpkgs }:
let
  inherit (lib) mkOption types;

  # Stand-in derivations: a name and a store path, nothing to build.
  fakeDrv = name: attrs: attrs // {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };

  pkgs = {
    # pkgs/pkgs-lib/formats.nix is missing: the same JSON type, and `generate` as a plain file.
    formats.json = {}: {
      type =
        let
          valueType = types.nullOr
            (types.oneOf [
              types.bool
              types.int
              types.float
              types.str
              types.path
              (types.attrsOf valueType)
              (types.listOf valueType)
            ]) // { description = "JSON value"; };
        in
        valueType;
      generate = name: value: builtins.toFile name (builtins.toJSON value);
    };
    runCommand = name: env: script: fakeDrv name (env // { stubScript = script; });
    portfwd = fakeDrv "portfwd-stub" { meta.mainProgram = "portfwd"; };
    kmod = fakeDrv "kmod-stub" { };
    coreutils = fakeDrv "coreutils-stub" { };
    findutils = fakeDrv "findutils-stub" { };
    gnugrep = fakeDrv "gnugrep-stub" { };
    gnused = fakeDrv "gnused-stub" { };
    writeText = name: text: builtins.toFile name text;
    # A native build by default; tests set `crossBuild` to see the cross case.
    stdenv = {
      buildPlatform.canExecute = _: true;
      hostPlatform = { };
    };
  };

  module = { config, ... }:
    let
      utils = import (nixpkgs + "/nixos/lib/utils.nix") { inherit lib config pkgs; };
    in
    {
      options = {
        boot.kernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
        environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
        environment.etc = mkOption {
          type = types.attrsOf (types.submodule {
            options.source = mkOption { type = types.path; };
            options.text = mkOption { type = types.nullOr types.lines; default = null; };
          });
          default = { };
        };
        networking.bridges = mkOption {
          type = types.attrsOf (types.submodule {
            options.interfaces = mkOption { type = types.listOf types.str; };
            options.rstp = mkOption { type = types.bool; default = false; };
          });
          default = { };
        };
        networking.interfaces =
          let
            addressType = types.submodule {
              options.address = mkOption { type = types.str; };
              options.prefixLength = mkOption { type = types.int; };
            };
          in
          mkOption {
            type = types.attrsOf (types.submodule {
              options.ipv4.addresses = mkOption { type = types.listOf addressType; default = [ ]; };
              options.ipv6.addresses = mkOption { type = types.listOf addressType; default = [ ]; };
            });
            default = { };
          };
        networking.firewall =
          let
            rangeType = types.submodule {
              options.from = mkOption { type = types.port; };
              options.to = mkOption { type = types.port; };
            };
          in
          {
            allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
            allowedUDPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
            allowedTCPPortRanges = mkOption { type = types.listOf rangeType; default = [ ]; };
            allowedUDPPortRanges = mkOption { type = types.listOf rangeType; default = [ ]; };
            extraCommands = mkOption { type = types.lines; default = ""; };
            extraInputRules = mkOption { type = types.lines; default = ""; };
          };
        # services.keepalived as nixpkgs declares it (nixos/modules/services/networking/
        # keepalived/vrrp-instance-options.nix and virtual-ip-options.nix): the lib snapshot
        # lacks that module, so its names and types are repeated here, strictly (a name the
        # real module lacks fails evaluation as it would there).
        services.keepalived = {
          enable = mkOption { type = types.bool; default = false; };
          openFirewall = mkOption { type = types.bool; default = false; };
          vrrpInstances = mkOption {
            type = types.attrsOf (types.submodule {
              options = {
                interface = mkOption { type = types.str; };
                state = mkOption { type = types.enum [ "MASTER" "BACKUP" ]; default = "BACKUP"; };
                virtualRouterId = mkOption { type = types.ints.between 1 255; };
                priority = mkOption { type = types.int; default = 100; };
                noPreempt = mkOption { type = types.bool; default = false; };
                unicastPeers = mkOption { type = types.listOf types.str; default = [ ]; };
                virtualIps = mkOption {
                  type = types.listOf (types.submodule {
                    options.addr = mkOption { type = types.str; };
                    options.dev = mkOption { type = types.nullOr types.str; default = null; };
                    options.brd = mkOption { type = types.nullOr types.str; default = null; };
                    options.scope = mkOption { type = types.nullOr types.str; default = null; };
                    options.label = mkOption { type = types.nullOr types.str; default = null; };
                  });
                  default = [ ];
                };
                trackScripts = mkOption { type = types.listOf types.str; default = [ ]; };
                trackInterfaces = mkOption { type = types.listOf types.str; default = [ ]; };
                extraConfig = mkOption { type = types.lines; default = ""; };
              };
            });
            default = { };
          };
        };
        systemd.package = mkOption { type = types.package; default = fakeDrv "systemd-stub" { }; };
        # The real service type, from the snapshot's nixos/lib.
        systemd.services = mkOption { type = utils.systemdUtils.types.services; default = { }; };
      };
      config = {
        _module.args.pkgs = pkgs;
        # sysctl.nix writes /etc/sysctl.d; give its text a source as etc.nix would.
        environment.etc."sysctl.d/60-nixos.conf".source = "/etc/static/sysctl.d/60-nixos.conf";
      };
    };
in
{
  inherit pkgs module;
}
