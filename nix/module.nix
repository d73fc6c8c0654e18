# NixOS module: services.portfwd keeps the kernel's IPVS table (and the host around it) in
# line with the settings, re-applying incrementally on every `nixos-rebuild switch`.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkDefault types literalExpression;

  cfg = config.services.portfwd;
  json = pkgs.formats.json { };

  schedulers = [ "rr" "wrr" "lc" "wlc" "lblc" "lblcr" "dh" "sh" "sed" "nq" "fo" "ovf" "mh" "twos" ];

  publicType = types.submodule {
    options = {
      address = mkOption {
        type = types.str;
        example = "203.0.113.10";
        description = "A public IPv4 or IPv6 address of this host, without prefix length. portfwd manages the IPVS services on it.";
      };
      interface = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "eth0";
        description = "The interface that carries the address; portfwd adds the address there when it is missing.";
      };
      prefix_len = mkOption {
        type = types.nullOr (types.ints.between 1 128);
        default = null;
        description = "Prefix length used when portfwd adds the address (32 or 128 when null). Needs `interface`.";
      };
      floating = mkOption {
        type = types.bool;
        default = false;
        description = "Moved between the two hosts of a pair by VRRP (keepalived, from `vrrp`); portfwd never adds or removes it. Needs `interface`.";
      };
    };
  };

  bridgeType = types.submodule {
    options = {
      name = mkOption {
        type = types.strMatching "[^/:[:space:]]{1,15}";
        example = "br1";
        description = "The bridge's interface name.";
      };
      address = mkOption {
        type = types.strMatching "[0-9A-Fa-f:.]+/[0-9]{1,3}";
        example = "10.0.0.1/24";
        description = "The host's address on the bridge with prefix length: the guests' gateway.";
      };
      ports = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "eth1" ];
        description = "Interfaces to enslave to the bridge.";
      };
      floating_address = mkOption {
        type = types.nullOr (types.strMatching "[0-9A-Fa-f:.]+/[0-9]{1,3}");
        default = null;
        example = "10.0.0.1/24";
        description = "The guests' gateway of an active/backup pair, moved by VRRP with the floating public addresses; `address` stays this host's own.";
      };
    };
  };

  vrrpType = types.submodule {
    options = {
      interface = mkOption {
        type = types.str;
        example = "br1";
        description = "The interface VRRP advertisements go out on.";
      };
      router_id = mkOption {
        type = types.ints.between 1 255;
        description = "The virtual router id, the same on both hosts.";
      };
      priority = mkOption {
        type = types.ints.between 1 254;
        description = "This host's priority; give the two hosts different ones.";
      };
      advert_interval = mkOption {
        type = types.ints.between 1 255;
        default = 1;
        description = "Seconds between advertisements.";
      };
      unicast_peers = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "The peer's address for unicast advertisements (multicast when empty).";
      };
      preempt = mkOption {
        type = types.bool;
        default = false;
        description = "Take the addresses back from a lower-priority peer on return (keepalived's nopreempt when false).";
      };
    };
  };

  syncType = types.submodule {
    options = {
      interface = mkOption {
        type = types.str;
        example = "br1";
        description = "The interface the IPVS sync daemons use.";
      };
      sync_id = mkOption {
        type = types.ints.between 0 255;
        description = "The sync id, the same on both hosts.";
      };
      max_len = mkOption { type = types.nullOr (types.ints.between 1 65507); default = null; description = "Largest sync message payload (from the MTU when null)."; };
      group = mkOption { type = types.nullOr types.str; default = null; description = "Multicast group (224.0.0.81 when null)."; };
      port = mkOption { type = types.nullOr types.port; default = null; description = "UDP port (8848 when null)."; };
      ttl = mkOption { type = types.nullOr (types.ints.between 1 255); default = null; description = "Multicast TTL (1 when null)."; };
    };
  };

  backendType = types.either types.str (types.submodule {
    options = {
      address = mkOption {
        type = types.str;
        example = "10.0.0.2:22";
        description = "`ADDR:PORT`, `ADDR:FIRST-LAST` or a bare `ADDR` (the listen port(s)).";
      };
      weight = mkOption {
        type = types.ints.between 0 65535;
        default = 1;
        description = "Scheduling weight; 0 quiesces the backend.";
      };
      upper_threshold = mkOption {
        type = types.ints.unsigned;
        default = 0;
        description = "Connection limit; 0 means none.";
      };
      lower_threshold = mkOption {
        type = types.ints.unsigned;
        default = 0;
        description = "Below this many connections an overloaded backend gets new ones again.";
      };
      method = mkOption {
        type = types.nullOr (types.enum [ "masq" "route" "tunnel" ]);
        default = null;
        description = "This backend's forwarding method, when not the forward's `method` (IPVS sets it per destination).";
      };
    };
  });

  forwardType = types.submodule {
    options = {
      name = mkOption {
        type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9._-]{0,63}";
        example = "domu-ssh";
        description = "A unique name for the forward.";
      };
      protocol = mkOption {
        type = types.enum [ "tcp" "udp" "sctp" ];
        default = "tcp";
        description = "The transport protocol.";
      };
      listen = mkOption {
        type = types.str;
        example = "203.0.113.10:2222";
        description = "`ADDR:PORT` or `ADDR:FIRST-LAST` (IPv6 as `[2001:db8::1]:443`); ADDR must be one of the public addresses.";
      };
      backends = mkOption {
        type = types.listOf backendType;
        default = [ ];
        example = [ "10.0.0.2:22" ];
        description = "The real servers.";
      };
      scheduler = mkOption {
        type = types.enum schedulers;
        default = "wlc";
        description = "The IPVS scheduler (kernel module `ip_vs_NAME`).";
      };
      method = mkOption {
        type = types.enum [ "masq" "route" "tunnel" ];
        default = "masq";
        description = "NAT (masq), direct routing or IP-in-IP tunnel.";
      };
      persistence = mkOption {
        type = types.nullOr (types.ints.between 1 2147483);
        default = null;
        description = "Persistence timeout in seconds.";
      };
      persistence_netmask = mkOption {
        type = types.nullOr (types.either types.str types.ints.unsigned);
        default = null;
        description = "Netmask (IPv4 dotted or prefix length) whose clients share a persistence entry.";
      };
      scheduler_flags = mkOption {
        type = types.listOf (types.enum [ "sh-fallback" "sh-port" "mh-fallback" "mh-port" ]);
        default = [ ];
        description = "Scheduler flags for `sh` and `mh`.";
      };
    };
  };

  safetyType = types.submodule {
    options = {
      max_remove_percent = mkOption {
        type = types.nullOr (types.ints.between 0 100);
        default = null;
        description = "The largest share of managed services one apply may remove without `--force` (30 when null).";
      };
      min_services = mkOption {
        type = types.nullOr types.ints.unsigned;
        default = null;
        description = "Below this many managed services the percentage is not checked (10 when null).";
      };
    };
  };

  # The config format refuses null for optional fields: leave them out.
  clean = v:
    if builtins.isAttrs v then lib.mapAttrs (_: clean) (lib.filterAttrs (_: x: x != null) v)
    else if builtins.isList v then map clean v
    else v;

  # What the config says, from `settings` or read from `configFile` (at evaluation).
  effective =
    if cfg.configFile != null then lib.importJSON cfg.configFile
    else clean cfg.settings;
  forwards = map (f: { method = "masq"; protocol = "tcp"; scheduler = "wlc"; } // f) (effective.forwards or [ ]);
  bridges = map (b: { ports = [ ]; } // b) (effective.bridges or [ ]);
  publics = effective.public or [ ];
  publicAddresses = map (p: p.address) publics;

  listenAddress = f:
    let m = builtins.match "\\[([^]]*)]:.*|([^:]*):.*" f.listen;
    in if m == null then null else if builtins.elemAt m 0 != null then builtins.elemAt m 0 else builtins.elemAt m 1;
  # The listen port or range: { from; to; }.
  listenPorts = f:
    let
      m = builtins.match ".*:([0-9]+)(-([0-9]+))?" f.listen;
      from = lib.toInt (builtins.elemAt m 0);
    in
    if m == null then null
    else { inherit from; to = if builtins.elemAt m 2 == null then from else lib.toInt (builtins.elemAt m 2); };
  isIPv6 = addr: lib.hasInfix ":" addr;
  # As portfwd derives it: a masq backend, or a masq forward's fallback or (without backends)
  # the forward itself.
  methodOf = f: b: if builtins.isAttrs b && (b.method or null) != null then b.method else f.method or "masq";
  usesMasq = f: (f.fallback or null != null || (f.backends or [ ]) == [ ]) && (f.method or "masq") == "masq"
    || lib.any (b: methodOf f b == "masq") (f.backends or [ ]);
  masqOn = v6: lib.any (f: usesMasq f && listenAddress f != null && isIPv6 (listenAddress f) == v6) forwards;

  portsOf = protocol: lib.filter (r: r != null) (map listenPorts (lib.filter (f: f.protocol == protocol) forwards));
  singles = ranges: lib.unique (map (r: r.from) (lib.filter (r: r.from == r.to) ranges));
  spans = ranges: lib.unique (lib.filter (r: r.from != r.to) ranges);
  sctpPorts = portsOf "sctp";
  sctpMatch = r: if r.from == r.to then toString r.from else "${toString r.from}:${toString r.to}";
  sctpRange = r: if r.from == r.to then toString r.from else "${toString r.from}-${toString r.to}";

  # The forwarding sysctls live in boot.kernel.sysctl, and the config mirrors NixOS's values
  # so that an apply at runtime never sets anything else.
  forwardingKeys = lib.optional (masqOn false) "net.ipv4.ip_forward"
    ++ lib.optional (masqOn true) "net.ipv6.conf.all.forwarding";
  acceptRaKeys = lib.optionals (masqOn true) (map (p: "net.ipv6.conf.${lib.replaceStrings [ "." ] [ "/" ] p.interface}.accept_ra")
    (lib.filter (p: isIPv6 p.address && (p.interface or null) != null) publics));
  sysctlOf = key: config.boot.kernel.sysctl.${key} or null;
  mirrored = lib.filterAttrs (_: v: v != null) (lib.genAttrs (forwardingKeys ++ acceptRaKeys) sysctlOf);

  configData = effective // {
    sysctl = (effective.sysctl or { }) // (lib.mapAttrs (_: v: if builtins.isBool v then (if v then 1 else 0) else v) mirrored);
  };
  generatedConfig = json.generate "portfwd.json" configData;
  canValidate = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
  # `portfwd validate` at build time: a bad config fails `nixos-rebuild`, not the boot.
  # A cross build cannot run the host's portfwd, so there it is checked at boot only.
  validatedConfig =
    if canValidate then
      pkgs.runCommand "portfwd.json" { nativeBuildInputs = [ cfg.package ]; } ''
        portfwd validate -c ${generatedConfig}
        cp ${generatedConfig} $out
      ''
    else generatedConfig;

  applyCommand = lib.concatStringsSep " " ([
    (lib.getExe cfg.package)
    "apply"
    "--auto-approve"
    "-c"
    "${validatedConfig}"
  ] ++ lib.optionals (cfg.drainSeconds != null) [ "--drain" (toString cfg.drainSeconds) ]);

  bridgeAddress = b:
    let parts = lib.splitString "/" b.address;
    in { address = builtins.head parts; prefixLength = lib.toInt (lib.last parts); };
  duplicates = names: lib.unique (lib.filter (n: lib.count (x: x == n) names > 1) names);

  # The pair: keepalived moves the floating addresses, as `portfwd gen keepalived` writes them.
  vrrp = effective.vrrp or null;
  vips = map (p: { addr = "${p.address}/${toString (p.prefix_len or (if isIPv6 p.address then 128 else 32))}"; dev = p.interface; })
    (lib.filter (p: p.floating or false) publics)
  ++ map (b: { addr = b.floating_address; dev = b.name; })
    (lib.filter (b: (b.floating_address or null) != null) bridges);
  # VRRPv2 carries IPv4 only: IPv6 addresses go as "excluded" ones beside IPv4 ones.
  anyV4 = lib.any (v: !isIPv6 v.addr) vips;
  mainVips = lib.filter (v: isIPv6 v.addr != anyV4) vips;
  excludedVips = lib.filter (v: isIPv6 v.addr == anyV4) vips;
  vrrpExtra = lib.concatStringsSep "\n" ([ "advert_int ${toString (vrrp.advert_interval or 1)}" ]
    ++ lib.optional (!anyV4 && vips != [ ]) "version 3"
    ++ lib.optional (excludedVips != [ ])
    "virtual_ipaddress_excluded {\n${lib.concatMapStrings (v: "  ${v.addr} dev ${v.dev}\n") excludedVips}}"
    ++ [ "garp_master_delay 1" "garp_master_repeat 3" ]);
in
{
  options.services.portfwd = {
    enable = mkEnableOption "portfwd, declarative port forwarding with Linux IPVS";

    package = lib.mkPackageOption pkgs "portfwd" { };

    settings = mkOption {
      type = types.submodule {
        options = {
          public = mkOption {
            type = types.listOf publicType;
            default = [ ];
            description = "The host's public addresses; portfwd manages the IPVS services on these only.";
          };
          bridges = mkOption {
            type = types.listOf bridgeType;
            default = [ ];
            description = "Bridges that connect the guests to the host.";
          };
          forwards = mkOption {
            type = types.listOf forwardType;
            default = [ ];
            description = "The port forwards, one IPVS virtual service per listen port.";
          };
          safety = mkOption {
            type = safetyType;
            default = { };
            description = "Limits that make apply refuse a plan that removes too much.";
          };
          vrrp = mkOption {
            type = types.nullOr vrrpType;
            default = null;
            description = "An active/backup pair: the VRRP instance, run by services.keepalived, that moves the floating addresses.";
          };
          sync = mkOption {
            type = types.nullOr syncType;
            default = null;
            description = "The kernel's IPVS connection sync daemons (a master and a backup on each host), kept by portfwd.";
          };
          sysctl = mkOption {
            type = types.attrsOf (types.either types.int types.str);
            default = { };
            example = { "net.ipv4.vs.expire_nodest_conn" = 1; };
            description = "Extra kernel settings under net.ipv4., net.ipv6., net.core. and net.bridge. that portfwd keeps.";
          };
        };
      };
      default = { };
      example = literalExpression ''
        {
          public = [ { address = "203.0.113.10"; interface = "eth0"; } ];
          bridges = [ { name = "br1"; address = "10.0.0.1/24"; ports = [ "eth1" ]; } ];
          forwards = [ { name = "domu-ssh"; listen = "203.0.113.10:2222"; backends = [ "10.0.0.2:22" ]; scheduler = "rr"; } ];
        }
      '';
      description = ''
        The portfwd config (docs/config.md of portfwd), written as JSON. Every field is typed:
        a misspelt one fails evaluation.
      '';
    };

    configFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "./portfwd.json";
      description = ''
        A portfwd config file to use instead of `settings` (which must then stay empty). It is
        read at evaluation for the kernel modules, sysctls, bridges and firewall ports.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Open every forward's listen port (or range) in the NixOS firewall, per protocol. IPVS
        sees packets after the INPUT filter: a closed port is a forward that silently does
        not work.
      '';
    };

    manageBridges = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether portfwd itself creates the bridges, their addresses and ports. When false
        (the default), the module declares them the NixOS way, as `networking.bridges` and
        `networking.interfaces.<bridge>` addresses (as defaults: a bridge you declare yourself
        wins), and portfwd finds them in place.
      '';
    };

    mode = mkOption {
      type = types.enum [ "oneshot" "daemon" ];
      default = "oneshot";
      description = ''
        `oneshot`: apply at boot and on every config change. `daemon`: `portfwd run`, which
        also runs the health checks and repairs drift; a config change reloads it (SIGHUP),
        it is not restarted.
      '';
    };

    metrics = {
      enable = lib.mkEnableOption "Prometheus metrics of `portfwd run` (daemon mode) on `metrics.address`";
      address = mkOption {
        type = types.str;
        default = "127.0.0.1:9432";
        example = "[::]:9432";
        description = ''
          Where `portfwd run --metrics` serves `GET /metrics`. No firewall port is opened for
          it: open one yourself (networking.firewall.allowedTCPPorts) to scrape from elsewhere.
        '';
      };
    };

    drainSeconds = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      example = 30;
      description = "When set, a removed backend first gets weight 0 and is deleted once its connections end or after this many seconds (`portfwd apply --drain`).";
    };

    generatedConfig = mkOption {
      type = types.str;
      internal = true;
      readOnly = true;
      description = "The JSON text of the generated config (for tests and debugging).";
    };
  };

  config = mkIf cfg.enable {
    services.portfwd.generatedConfig = builtins.toJSON configData;

    assertions = [
      {
        assertion = vips != [ ] -> vrrp != null;
        message = "services.portfwd: floating addresses need settings.vrrp (keepalived moves them)";
      }
      {
        assertion = cfg.metrics.enable -> cfg.mode == "daemon";
        message = "services.portfwd.metrics needs services.portfwd.mode = \"daemon\" (portfwd run serves the metrics).";
      }
      {
        assertion = cfg.configFile == null || (cfg.settings.public == [ ] && cfg.settings.bridges == [ ] && cfg.settings.forwards == [ ]);
        message = "services.portfwd: set either settings or configFile, not both";
      }
      {
        assertion = lib.all (f: lib.elem (listenAddress f) publicAddresses) forwards;
        message = "services.portfwd: every forward's listen address must be one of settings.public: "
          + lib.concatMapStringsSep ", " (f: "${f.name} listens on ${f.listen}")
          (lib.filter (f: !(lib.elem (listenAddress f) publicAddresses)) forwards);
      }
      {
        assertion = duplicates (map (f: f.name) forwards) == [ ];
        message = "services.portfwd: forward names must be unique; repeated: ${toString (duplicates (map (f: f.name) forwards))}";
      }
      {
        assertion = duplicates (map (b: b.name) bridges) == [ ];
        message = "services.portfwd: bridge names must be unique; repeated: ${toString (duplicates (map (b: b.name) bridges))}";
      }
      {
        assertion = duplicates (lib.concatMap (b: b.ports) bridges) == [ ];
        message = "services.portfwd: an interface can be the port of one bridge only; repeated: ${toString (duplicates (lib.concatMap (b: b.ports) bridges))}";
      }
    ];

    boot.kernelModules = [ "ip_vs" ] ++ map (s: "ip_vs_${s}") (lib.unique (map (f: f.scheduler) forwards));

    boot.kernel.sysctl = lib.mkMerge ([
      (mkIf (masqOn false) { "net.ipv4.ip_forward" = mkDefault 1; })
      (mkIf (masqOn true) { "net.ipv6.conf.all.forwarding" = mkDefault 1; })
    ] ++ map (key: { ${key} = mkDefault 2; }) acceptRaKeys);

    networking.firewall = mkIf cfg.openFirewall {
      allowedTCPPorts = singles (portsOf "tcp");
      allowedTCPPortRanges = spans (portsOf "tcp");
      allowedUDPPorts = singles (portsOf "udp");
      allowedUDPPortRanges = spans (portsOf "udp");
      # The firewall has no SCTP port options: a rule for each backend (iptables or nftables).
      extraCommands = lib.concatMapStrings
        (r: "ip46tables -A nixos-fw -p sctp --dport ${sctpMatch r} -j nixos-fw-accept\n")
        sctpPorts;
      extraInputRules = lib.concatMapStrings (r: "sctp dport ${sctpRange r} accept\n") sctpPorts;
    };

    services.keepalived = mkIf (vrrp != null) {
      enable = mkDefault true;
      openFirewall = mkDefault true;
      vrrpInstances."portfwd_${toString vrrp.router_id}" = {
        inherit (vrrp) interface;
        state = "BACKUP";
        virtualRouterId = vrrp.router_id;
        inherit (vrrp) priority;
        noPreempt = !(vrrp.preempt or false);
        unicastPeers = vrrp.unicast_peers or [ ];
        virtualIps = mainVips;
        trackInterfaces = lib.filter (i: i != vrrp.interface) (lib.unique (map (v: v.dev) vips));
        extraConfig = vrrpExtra;
      };
    };

    environment.systemPackages = [ cfg.package ];
    # `portfwd plan` and `portfwd show -c` find the config where they look by default.
    environment.etc."portfwd/portfwd.json".source = validatedConfig;

    networking.bridges = mkIf (!cfg.manageBridges) (lib.listToAttrs (map
      (b: lib.nameValuePair b.name { interfaces = mkDefault b.ports; })
      bridges));
    networking.interfaces = mkIf (!cfg.manageBridges) (lib.listToAttrs (map
      (b: lib.nameValuePair b.name (if isIPv6 b.address
      then { ipv6.addresses = mkDefault [ (bridgeAddress b) ]; }
      else { ipv4.addresses = mkDefault [ (bridgeAddress b) ]; }))
      bridges));

    systemd.services.portfwd = {
      description = "Declarative port forwarding with IPVS (portfwd)";
      documentation = [ "man:portfwd(1)" ];
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      # oneshot: a changed config restarts the unit (`nixos-rebuild switch` re-applies,
      # incrementally); daemon: it reloads, reading /etc/portfwd/portfwd.json again.
      restartTriggers = lib.optional (cfg.mode == "oneshot") validatedConfig;
      reloadTriggers = lib.optional (cfg.mode == "daemon") validatedConfig;
      path = [ pkgs.kmod ];
      serviceConfig = (if cfg.mode == "oneshot" then {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = applyCommand;
        ExecReload = applyCommand;
      } else {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${lib.getExe cfg.package} run -c /etc/portfwd/portfwd.json"
          + lib.optionalString (cfg.drainSeconds != null) " --drain ${toString cfg.drainSeconds}"
          + lib.optionalString cfg.metrics.enable " --metrics ${cfg.metrics.address}";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = 5;
        # portfwd run pings from its main loop; a loop stuck for 30 s is restarted.
        WatchdogSec = "30s";
      }) // {
        CapabilityBoundingSet = [ "CAP_NET_ADMIN" "CAP_SYS_MODULE" ];
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        RuntimeDirectory = "portfwd";
        RuntimeDirectoryPreserve = true;
        ProtectHome = true;
        PrivateTmp = true;
        RestrictAddressFamilies = [ "AF_NETLINK" "AF_UNIX" "AF_INET" "AF_INET6" ];
        LockPersonality = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
      };
    };
  };
}
