# Evaluates nix/module.nix with nixpkgs' real lib.evalModules, the real assertions and sysctl
# modules and the real systemd service type, plus the stubs of stubs.nix. Returns the names
# of the checks that failed and the JSON configs the module generates (tests/nix/run feeds
# them to the real `portfwd validate`).
{ nixpkgs }:
let
  lib = import (nixpkgs + "/lib");
  stubs = import ./stubs.nix { inherit lib nixpkgs; };

  eval = extra: (lib.evalModules {
    modules = [
      ../../nix/module.nix
      (nixpkgs + "/nixos/modules/misc/assertions.nix")
      (nixpkgs + "/nixos/modules/config/sysctl.nix")
      stubs.module
    ] ++ extra;
  }).config;

  failedAssertions = c: map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
  # Whether evaluating `expr` fully succeeds (type errors and throws fail it).
  evaluates = expr: (builtins.tryEval (builtins.deepSeq expr expr)).success;

  classic = {
    services.portfwd = {
      enable = true;
      settings = {
        public = [{ address = "203.0.113.10"; interface = "eth0"; }];
        bridges = [{ name = "br1"; address = "10.0.0.1/24"; ports = [ "eth1" ]; }];
        forwards = [
          { name = "domu-ssh"; listen = "203.0.113.10:2222"; backends = [ "10.0.0.2:22" ]; scheduler = "rr"; }
          {
            name = "web";
            listen = "203.0.113.10:80";
            backends = [{ address = "10.0.0.3"; weight = 3; } "10.0.0.4"];
            persistence = 300;
          }
        ];
        sysctl."net.ipv4.vs.expire_nodest_conn" = 1;
      };
    };
  };
  c = eval [ classic ];
  unit = c.systemd.services.portfwd;
  validated = builtins.head unit.restartTriggers;

  managed = eval [ classic { services.portfwd.manageBridges = true; } ];
  draining = eval [ classic { services.portfwd.drainSeconds = 30; } ];
  overridden = eval [ classic { boot.kernel.sysctl."net.ipv4.ip_forward" = 0; } ];
  disabled = eval [{ services.portfwd.settings = classic.services.portfwd.settings; }];

  ipv6 = eval [{
    services.portfwd = {
      enable = true;
      settings = {
        public = [{ address = "2001:db8::10"; }];
        bridges = [{ name = "br6"; address = "fd00::1/64"; }];
        forwards = [{ name = "web6"; listen = "[2001:db8::10]:443"; backends = [ "[fd00::5]" ]; scheduler = "mh"; scheduler_flags = [ "mh-port" ]; }];
      };
    };
  }];

  # A direct-routing forward with one masq backend: IPVS mixes methods per destination.
  mixed = eval [{
    services.portfwd = {
      enable = true;
      settings = {
        public = [{ address = "203.0.113.10"; }];
        forwards = [{
          name = "web";
          listen = "203.0.113.10:80";
          method = "route";
          backends = [ "10.0.0.2" { address = "10.0.0.3"; method = "masq"; } ];
        }];
      };
    };
  }];

  withSettings = settings: eval [{ services.portfwd = { enable = true; inherit settings; }; }];
  badScheduler = withSettings {
    public = [{ address = "203.0.113.10"; }];
    forwards = [{ name = "x"; listen = "203.0.113.10:80"; scheduler = "bogus"; }];
  };
  badWeight = withSettings {
    public = [{ address = "203.0.113.10"; }];
    forwards = [{ name = "x"; listen = "203.0.113.10:80"; backends = [{ address = "10.0.0.2"; weight = 70000; }]; }];
  };
  badBridgeName = withSettings { bridges = [{ name = "a-bridge-name-too-long"; address = "10.0.0.1/24"; }]; };
  strangerListen = withSettings {
    public = [{ address = "203.0.113.10"; }];
    forwards = [{ name = "x"; listen = "198.51.100.1:80"; }];
  };
  twice = withSettings {
    public = [{ address = "203.0.113.10"; }];
    forwards = [
      { name = "x"; listen = "203.0.113.10:80"; }
      { name = "x"; listen = "203.0.113.10:81"; }
    ];
    bridges = [
      { name = "br1"; address = "10.0.0.1/24"; ports = [ "eth1" ]; }
      { name = "br2"; address = "10.1.0.1/24"; ports = [ "eth1" ]; }
    ];
  };

  withFirewall = eval [{
    services.portfwd = {
      enable = true;
      settings = {
        public = [{ address = "203.0.113.10"; } { address = "2001:db8::10"; interface = "eth0"; }];
        forwards = [
          { name = "ssh"; listen = "203.0.113.10:2222"; backends = [ "10.0.0.2:22" ]; }
          { name = "web"; listen = "[2001:db8::10]:443"; backends = [ "[fd00::5]" ]; }
          { name = "dns"; protocol = "udp"; listen = "203.0.113.10:53"; backends = [ "10.0.0.3" ]; }
          { name = "rtp"; protocol = "udp"; listen = "203.0.113.10:10000-10099"; backends = [ "10.0.0.4" ]; }
          { name = "diameter"; protocol = "sctp"; listen = "203.0.113.10:3868"; backends = [ "10.0.0.5" ]; }
        ];
      };
    };
  }];
  fw = withFirewall.networking.firewall;
  closed = eval [ classic { services.portfwd.openFirewall = false; } ];

  fromFile = eval [{
    services.portfwd = {
      enable = true;
      configFile = ./from-file.json;
    };
  }];
  both = eval [ classic { services.portfwd.configFile = ./from-file.json; } ];
  ownBridge = eval [ classic { networking.bridges.br1.interfaces = [ "eth9" ]; } ];
  cross = eval [
    classic
    { _module.args.pkgs = lib.mkForce (stubs.pkgs // { stdenv = { buildPlatform.canExecute = _: false; hostPlatform = { }; }; }); }
  ];
  crossUnit = cross.systemd.services.portfwd;
  daemon = eval [ classic { services.portfwd.mode = "daemon"; } ];
  daemonUnit = daemon.systemd.services.portfwd;
  metricsEval = eval [ classic { services.portfwd = { mode = "daemon"; metrics.enable = true; }; } ];
  metricsUnit = metricsEval.systemd.services.portfwd;
  metricsOneshot = eval [ classic { services.portfwd.metrics.enable = true; } ];
  pairSettings = priority: {
    public = [{ address = "203.0.113.10"; interface = "eth0"; prefix_len = 24; floating = true; }];
    bridges = [{ name = "br1"; address = "10.0.0.2/24"; floating_address = "10.0.0.1/24"; ports = [ "eth1" ]; }];
    vrrp = { interface = "br1"; router_id = 51; inherit priority; unicast_peers = [ "10.0.0.3" ]; };
    sync = { interface = "br1"; sync_id = 51; };
    forwards = [{ name = "ssh"; listen = "203.0.113.10:2222"; backends = [ "10.0.0.10:22" ]; }];
  };
  pair = withSettings (pairSettings 150);
  instance = pair.services.keepalived.vrrpInstances.portfwd_51;
  pairV6 = withSettings ((pairSettings 150) // {
    public = [{ address = "2001:db8::10"; interface = "eth0"; floating = true; }];
    forwards = [ ];
  });
  floatingAlone = withSettings { public = [{ address = "203.0.113.10"; interface = "eth0"; floating = true; }]; };
  typo = eval [ classic { services.portfwd.settings.forwards = [{ name = "x"; listen = "203.0.113.10:80"; shceduler = "rr"; }]; } ];

  checks = {
    "pair: keepalived runs the VRRP instance, firewall open for VRRP" = pair.services.keepalived.enable && pair.services.keepalived.openFirewall;
    "pair: BACKUP on both, nopreempt, priority and router id" = instance.state == "BACKUP" && instance.noPreempt
      && instance.priority == 150 && instance.virtualRouterId == 51 && instance.interface == "br1";
    "pair: the floating public and bridge addresses on their interfaces" = instance.virtualIps == [
      { addr = "203.0.113.10/24"; dev = "eth0"; brd = null; scope = null; label = null; }
      { addr = "10.0.0.1/24"; dev = "br1"; brd = null; scope = null; label = null; }
    ];
    "pair: the public link tracked, unicast peer, advert and GARP" = instance.trackInterfaces == [ "eth0" ]
      && instance.unicastPeers == [ "10.0.0.3" ] && lib.hasInfix "advert_int 1" instance.extraConfig
      && lib.hasInfix "garp_master_delay 1" instance.extraConfig;
    "pair: IPv6 beside IPv4 as an excluded address" = lib.hasInfix "virtual_ipaddress_excluded {\n  2001:db8::10/128 dev eth0" pairV6.services.keepalived.vrrpInstances.portfwd_51.extraConfig;
    "pair: the bridge's own address only, the floating one is keepalived's" =
      pair.networking.interfaces.br1.ipv4.addresses == [{ address = "10.0.0.2"; prefixLength = 24; }];
    "pair: no keepalived without vrrp" = !c.services.keepalived.enable;
    "pair: the config keeps vrrp and sync for portfwd" = (builtins.fromJSON pair.services.portfwd.generatedConfig).sync.sync_id == 51;
    "assertion: floating without vrrp" = lib.any (lib.hasInfix "floating addresses need settings.vrrp") (failedAssertions floatingAlone);
    "daemon: portfwd run on /etc/portfwd/portfwd.json" =
      lib.hasSuffix "/bin/portfwd run -c /etc/portfwd/portfwd.json" daemonUnit.serviceConfig.ExecStart;
    "daemon: notify, restarted on failure, reloaded with SIGHUP" = daemonUnit.serviceConfig.Type == "notify"
      && daemonUnit.serviceConfig.Restart == "on-failure" && lib.hasSuffix "kill -HUP $MAINPID" daemonUnit.serviceConfig.ExecReload;
    "daemon: a config change reloads, not restarts" = daemonUnit.restartTriggers == [ ] && builtins.length daemonUnit.reloadTriggers == 1;
    "daemon: hardened too" = daemonUnit.serviceConfig.ProtectSystem == "strict";
    "daemon: watchdog of 30 s, notify from the main process" = daemonUnit.serviceConfig.WatchdogSec == "30s"
      && daemonUnit.serviceConfig.NotifyAccess == "main";
    "daemon: no metrics unless asked" = !(lib.hasInfix "--metrics" daemonUnit.serviceConfig.ExecStart);
    "metrics: --metrics on the address, no firewall port opened" =
      lib.hasSuffix "--metrics 127.0.0.1:9432" metricsUnit.serviceConfig.ExecStart
      && !(builtins.elem 9432 metricsEval.networking.firewall.allowedTCPPorts);
    "firewall: TCP listen ports of every family" = fw.allowedTCPPorts == [ 2222 443 ];
    "firewall: UDP ports and ranges" = fw.allowedUDPPorts == [ 53 ] && fw.allowedUDPPortRanges == [{ from = 10000; to = 10099; }];
    "firewall: SCTP for iptables and nftables" =
      lib.hasInfix "-p sctp --dport 3868 -j nixos-fw-accept" fw.extraCommands && lib.hasInfix "sctp dport 3868 accept" fw.extraInputRules;
    "firewall: closed with openFirewall = false" = closed.networking.firewall.allowedTCPPorts == [ ];
    "accept_ra: 2 on an IPv6 public interface" = withFirewall.boot.kernel.sysctl."net.ipv6.conf.eth0.accept_ra" == 2;
    "sysctl: the config mirrors NixOS's values" =
      (builtins.fromJSON overridden.services.portfwd.generatedConfig).sysctl."net.ipv4.ip_forward" == 0
      && (builtins.fromJSON c.services.portfwd.generatedConfig).sysctl."net.ipv4.ip_forward" == 1;
    "configFile: modules from the file" = fromFile.boot.kernelModules == [ "ip_vs" "ip_vs_sh" ];
    "configFile: firewall from the file" = fromFile.networking.firewall.allowedTCPPorts == [ 8080 ];
    "configFile: not with settings" = lib.any (lib.hasInfix "either settings or configFile") (failedAssertions both);
    "bridges: a bridge declared by the user wins" = ownBridge.networking.bridges.br1.interfaces == [ "eth9" ];
    "cross: no build-time validation" = !(lib.hasInfix "portfwd validate" ((builtins.head crossUnit.restartTriggers).stubScript or ""));
    "rejected: a misspelt field" = !(evaluates typo.services.portfwd.generatedConfig);
    "unit: hardened" = unit.serviceConfig.NoNewPrivileges && unit.serviceConfig.ProtectSystem == "strict"
      && unit.serviceConfig.RuntimeDirectory == "portfwd" && unit.serviceConfig.CapabilityBoundingSet == [ "CAP_NET_ADMIN" "CAP_SYS_MODULE" ];
    "kernel modules: ip_vs and one per scheduler" = c.boot.kernelModules == [ "ip_vs" "ip_vs_rr" "ip_vs_wlc" ];
    "sysctl: IPv4 forwarding for masq forwards" = c.boot.kernel.sysctl."net.ipv4.ip_forward" == 1;
    "sysctl: IPv4 forwarding for a masq backend of a route forward" = mixed.boot.kernel.sysctl."net.ipv4.ip_forward" == 1;
    "backends: a backend's own method is written" =
      (builtins.elemAt (builtins.head (builtins.fromJSON mixed.services.portfwd.generatedConfig).forwards).backends 1).method == "masq";
    "sysctl: no IPv6 forwarding without IPv6 forwards" = !(c.boot.kernel.sysctl ? "net.ipv6.conf.all.forwarding");
    "sysctl: forwarding is only a default" = overridden.boot.kernel.sysctl."net.ipv4.ip_forward" == 0;
    "sysctl: real sysctl.nix still sets its own" = c.boot.kernel.sysctl."kernel.kptr_restrict" == 1;
    "unit: oneshot" = unit.serviceConfig.Type == "oneshot";
    "unit: RemainAfterExit" = unit.serviceConfig.RemainAfterExit;
    "unit: after and wants network-online" = lib.elem "network-online.target" unit.after && lib.elem "network-online.target" unit.wants;
    "unit: wanted by multi-user" = lib.elem "multi-user.target" unit.wantedBy;
    "unit: ExecStart applies the validated config" =
      builtins.match "/nix/store/[^ ]*-portfwd-stub/bin/portfwd apply --auto-approve -c /nix/store/[^ ]*-portfwd[.]json" unit.serviceConfig.ExecStart != null;
    "unit: ExecReload is ExecStart" = unit.serviceConfig.ExecReload == unit.serviceConfig.ExecStart;
    "unit: restarted when the config changes" = builtins.length unit.restartTriggers == 1;
    "unit: modprobe on its path" = lib.any (p: (p.name or "") == "kmod-stub") unit.path;
    "build: portfwd validate runs on the generated file" = lib.hasInfix "portfwd validate -c /nix/store/" validated.stubScript;
    "etc: /etc/portfwd/portfwd.json is the validated config" = toString c.environment.etc."portfwd/portfwd.json".source == "${validated}";
    "package in systemPackages" = lib.any (p: (p.name or "") == "portfwd-stub") c.environment.systemPackages;
    "bridges: declared the NixOS way" = c.networking.bridges.br1.interfaces == [ "eth1" ];
    "bridges: gateway address" = c.networking.interfaces.br1.ipv4.addresses == [{ address = "10.0.0.1"; prefixLength = 24; }];
    "bridges: left to portfwd with manageBridges" = managed.networking.bridges == { } && managed.networking.interfaces == { };
    "drain: --drain passed on" = lib.hasSuffix " --drain 30" draining.systemd.services.portfwd.serviceConfig.ExecStart;
    "no assertion fails for a good config" = failedAssertions c == [ ];
    "disabled: no unit" = !(disabled.systemd.services ? portfwd);
    "disabled: no modules" = disabled.boot.kernelModules == [ ];
    "ipv6: IPv6 forwarding" = ipv6.boot.kernel.sysctl."net.ipv6.conf.all.forwarding" == 1 && !(ipv6.boot.kernel.sysctl ? "net.ipv4.ip_forward");
    "ipv6: bridge address" = ipv6.networking.interfaces.br6.ipv6.addresses == [{ address = "fd00::1"; prefixLength = 64; }];
    "rejected: unknown scheduler" = !(evaluates badScheduler.services.portfwd.generatedConfig);
    "rejected: weight out of range" = !(evaluates badWeight.services.portfwd.generatedConfig);
    "rejected: bridge name too long" = !(evaluates badBridgeName.services.portfwd.generatedConfig);
    "assertion: listen outside public" = lib.any (lib.hasInfix "x listens on 198.51.100.1:80") (failedAssertions strangerListen);
    "assertion: metrics need the daemon" = lib.any (lib.hasInfix "services.portfwd.metrics needs") (failedAssertions metricsOneshot);
    "assertion: duplicate forward names" = lib.any (lib.hasInfix "forward names must be unique; repeated: x") (failedAssertions twice);
    "assertion: a port on two bridges" = lib.any (lib.hasInfix "repeated: eth1") (failedAssertions twice);
  };
in
{
  result = {
    failures = lib.attrNames (lib.filterAttrs (_: ok: ok != true) checks);
    count = builtins.length (lib.attrNames checks);
    configs = {
      classic = c.services.portfwd.generatedConfig;
      ipv6 = ipv6.services.portfwd.generatedConfig;
      pair = pair.services.portfwd.generatedConfig;
      mixed = mixed.services.portfwd.generatedConfig;
    };
  };
  # Each must fail evaluation with its message (tests/nix/run checks the text).
  rejects = {
    typo = typo.services.portfwd.generatedConfig;
    scheduler = badScheduler.services.portfwd.generatedConfig;
  };
}
