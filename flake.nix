{
  description = "portfwd: declarative port forwarding with Linux IPVS";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
      });

      overlays.default = final: _prev: {
        portfwd = final.callPackage ./nix/package.nix { };
      };

      nixosModules.default = {
        imports = [ ./nix/module.nix ];
        nixpkgs.overlays = [ self.overlays.default ];
      };

      formatter = forAllSystems (pkgs: pkgs.nixpkgs-fmt);

      # `nix flake check`: the package (with cargo test) and the module evaluated in a
      # NixOS system.
      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        module =
          let
            host = nixpkgs.lib.nixosSystem {
              inherit (pkgs.stdenv.hostPlatform) system;
              modules = [
                self.nixosModules.default
                {
                  boot.isContainer = true;
                  system.stateVersion = "25.05";
                  services.portfwd = {
                    enable = true;
                    settings = {
                      public = [{ address = "203.0.113.10"; interface = "eth0"; }];
                      bridges = [{ name = "br1"; address = "10.0.0.1/24"; }];
                      forwards = [{ name = "domu-ssh"; listen = "203.0.113.10:2222"; backends = [ "10.0.0.2:22" ]; }];
                    };
                  };
                }
              ];
            };
          in
          pkgs.writeText "portfwd-module.json" host.config.services.portfwd.generatedConfig;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.system}.default ];
          packages = [
            pkgs.clippy
            pkgs.rustfmt
            pkgs.ipvsadm
            pkgs.iproute2
            pkgs.qemu
            pkgs.nixpkgs-fmt
            pkgs.deadnix
          ];
        };
      });
    };
}
