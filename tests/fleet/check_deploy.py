#!/usr/bin/python3
"""check_deploy.py — what can be checked of deploy/ on a machine with no
Docker engine and no Kubernetes cluster:

  - the Kubernetes manifests and the compose file parse (python3-yaml);
  - every flag they (and the Dockerfile's CMD) give `specx serve` is one
    that `specx serve --help` lists, and the ports agree: container port,
    gRPC probes, Service, EXPOSE, nginx;
  - the probes ask the health service for a name it answers; the grace
    periods outlast --drain + --grace;
  - the images run as a non-root user, from Debian 12;
  - the Dockerfile's build packages are all in scripts/install-deps.sh, and
    its runtime packages include every library the built specx links;
  - nginx accepts deploy/nginx/nginx.conf (nginx -t, replicas on loopback).

usage: check_deploy.py SPECX_BINARY"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.environ.get("SPECX_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEPLOY = os.path.join(ROOT, "deploy")
SERVICE = "object_detection.GRPCImage"
problems = []


def check(cond, what):
    if not cond:
        problems.append(what)
    return cond


def serve_flags(specx):
    out = subprocess.run([specx, "serve", "--help"], capture_output=True, text=True, check=True)
    return set(re.findall(r"^\s+--([a-z0-9-]+)", out.stdout, re.M))


def flag_value(args, name):
    for i, a in enumerate(args):
        if a == "--" + name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--" + name + "="):
            return a.split("=", 1)[1]
    return None


def check_serve_args(where, args, flags):
    """A `specx serve` command line; returns (port, drain + grace)."""
    if not check(args and args[0] == "serve", "%s: does not run `specx serve`: %s" % (where, args)):
        return None, 0
    for a in args[1:]:
        if a.startswith("--"):
            name = a[2:].split("=", 1)[0]
            check(name in flags, "%s: `specx serve --help` has no --%s" % (where, name))
    port = flag_value(args, "port")
    check(port is not None, "%s: no --port (the default 12345 is implicit)" % where)
    drain = float(flag_value(args, "drain") or 1)
    grace = float(flag_value(args, "grace") or 5)
    check(flag_value(args, "bind") in (None, "0.0.0.0"),
          "%s: must listen on every interface in a container" % where)
    return int(port or 12345), drain + grace


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_k8s(flags):
    docs = []
    for name in sorted(os.listdir(os.path.join(DEPLOY, "k8s"))):
        if name.endswith(".yaml"):
            docs += load_yaml_docs(os.path.join(DEPLOY, "k8s", name))
    deps = [d for d in docs if d.get("kind") == "Deployment"]
    svcs = [d for d in docs if d.get("kind") == "Service"]
    check(len(deps) == 1 and len(svcs) == 1, "k8s: want one Deployment and one Service")
    if not deps or not svcs:
        return
    dep, svc = deps[0], svcs[0]
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    c = spec["containers"][0]
    port, stop_s = check_serve_args("k8s Deployment", c["args"], flags)
    ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
    check(ports.get("grpc") == port, "k8s: containerPort %s != --port %s" % (ports, port))
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        p = c.get(probe)
        if not check(p is not None and "grpc" in p, "k8s: no native gRPC %s" % probe):
            continue
        check(p["grpc"]["port"] == port, "k8s: %s port %s != %s" % (probe, p["grpc"]["port"], port))
        check(p["grpc"].get("service", "") in ("", SERVICE),
              "k8s: %s asks for service %r, which the server does not answer"
              % (probe, p["grpc"].get("service")))
    check(c["readinessProbe"]["grpc"].get("service") == SERVICE,
          "k8s: readiness should ask for %s" % SERVICE)
    live = c["livenessProbe"]
    check(live["periodSeconds"] * live["failureThreshold"] > stop_s,
          "k8s: liveness would restart a draining pod (%ss <= drain + grace %ss)"
          % (live["periodSeconds"] * live["failureThreshold"], stop_s))
    check(spec.get("terminationGracePeriodSeconds", 30) > stop_s,
          "k8s: terminationGracePeriodSeconds <= drain + grace (%s)" % stop_s)
    req = c.get("resources", {}).get("requests", {})
    check("cpu" in req and "memory" in req, "k8s: resource requests missing")
    sc = spec.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, "k8s: not non-root")
    check(svc["spec"].get("clusterIP") == "None", "k8s: the Service is not headless")
    check(svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items(),
          "k8s: Service selector does not match the pods")
    sp = svc["spec"]["ports"][0]
    check(sp["port"] == port and sp.get("targetPort") in (port, "grpc"),
          "k8s: Service port %s / targetPort %s vs %s" % (sp["port"], sp.get("targetPort"), port))


def parse_duration(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", str(s))
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)] if m else 10.0


def check_compose(flags, nginx_port):
    doc = load_yaml_docs(os.path.join(DEPLOY, "compose.yaml"))[0]
    svcs = doc["services"]
    rep, ngx = svcs.get("replica"), svcs.get("nginx")
    if not check(rep is not None and ngx is not None, "compose: want services replica and nginx"):
        return None
    port, stop_s = check_serve_args("compose replica", rep["command"], flags)
    check(str(port) in [str(x) for x in rep.get("expose", [])], "compose: --port not exposed")
    check(parse_duration(rep.get("stop_grace_period", "10s")) > stop_s,
          "compose: stop_grace_period <= drain + grace")
    check(rep["build"]["target"] == "specx" and ngx["build"]["target"] == "nginx",
          "compose: build targets")
    check(any(str(p).endswith(":%d" % nginx_port) for p in ngx.get("ports", [])),
          "compose: nginx's port %d is not published" % nginx_port)
    return rep["command"], port


def dockerfile_stages():
    """[(name, base, text)] of deploy/Dockerfile."""
    text = open(os.path.join(DEPLOY, "Dockerfile")).read()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for m in re.finditer(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$(.*?)(?=^FROM\s|\Z)", text, re.M | re.S):
        stages.append((m.group(2), m.group(1), m.group(3)))
    return stages


def apt_packages(stage_text):
    pkgs = []
    for m in re.finditer(r"apt-get install -y --no-install-recommends(.*?)(?:&&|$)", stage_text,
                         re.M):
        pkgs += m.group(1).split()
    return pkgs


def install_deps_packages():
    text = open(os.path.join(ROOT, "scripts/install-deps.sh")).read()
    body = re.search(r"PACKAGES=\((.*?)\n\)", text, re.S).group(1)
    return set(w for line in body.splitlines() for w in line.split("#")[0].split())


def needed_packages(specx):
    """Debian packages of the shared libraries specx links directly
    (the C/C++ runtime, and what only a sanitizer build links: the ASan and
    UBSan runtimes and libatomic, excluded)."""
    dyn = subprocess.run(["readelf", "-d", specx], capture_output=True, text=True,
                         check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dyn)
    paths = {}
    for line in subprocess.run(["ldd", specx], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            paths[m.group(1)] = m.group(2)
    want = []
    for lib in needed:
        if re.match(r"lib(asan|ubsan|atomic|c|m|pthread|dl|rt|gcc_s|stdc\+\+)\.so", lib):
            continue
        if check(lib in paths, "ldd cannot resolve %s" % lib):
            want.append(os.path.realpath(paths[lib]))
    if not want:
        return set()
    # One dpkg -S for all of them (each call reads every file list); with
    # merged /usr a file may be registered under /lib or /usr/lib.
    def variants(path):
        alt = path[4:] if path.startswith("/usr/lib/") else "/usr" + path
        return [path, alt]
    out = subprocess.run(["dpkg", "-S"] + [v for w in want for v in variants(w)],
                         capture_output=True, text=True)
    owned = {}
    for line in out.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        owned[path.strip()] = pkg.split(":")[0]
    pkgs = set()
    for w in want:
        hit = [owned[v] for v in variants(w) if v in owned]
        if check(hit, "no Debian package owns %s" % w):
            pkgs.add(hit[0])
    return pkgs


def depends_closure(pkgs):
    """pkgs and everything they depend on (as installed here: the same
    Debian release as the image), which apt installs with them."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends},${Pre-Depends}\n"],
                         capture_output=True, text=True, check=True).stdout
    deps = {}
    for line in out.splitlines():
        name, _, rest = line.partition("\t")
        deps[name] = [a.split("|")[0].split("(")[0].strip().split(":")[0] for a in rest.split(",")]
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p and p not in seen:
            seen.add(p)
            todo += deps.get(p, [])
    return seen


def check_dockerfile(flags, specx):
    stages = {name: (base, text) for name, base, text in dockerfile_stages()}
    check(set(stages) >= {"build", "specx", "nginx"}, "Dockerfile: stages %s" % list(stages))
    for name, (base, text) in stages.items():
        check(base.startswith("debian:12"), "Dockerfile: stage %s is not Debian 12" % name)
        if name != "build":
            users = re.findall(r"^USER\s+(\S+)", text, re.M)
            check(users and users[-1] not in ("0", "root"), "Dockerfile: %s runs as root" % name)
    deps = install_deps_packages()
    for p in apt_packages(stages["build"][1]):
        check(p in deps, "Dockerfile build package %s is not in scripts/install-deps.sh" % p)
    check("nginx" in deps, "scripts/install-deps.sh does not install nginx")
    runtime = set(apt_packages(stages["specx"][1]))
    installed = depends_closure(runtime)
    for p in sorted(needed_packages(specx)):
        check(p in installed, "Dockerfile: specx links a library of %s, not installed" % p)
    check("darknet" in runtime, "Dockerfile: darknet (loaded on demand) not installed")
    text = stages["specx"][1]
    cmd = json.loads(re.search(r"^CMD\s+(\[.*\])\s*$", text, re.M).group(1))
    port, _ = check_serve_args("Dockerfile CMD", cmd, flags)
    check(re.search(r"^EXPOSE\s+%d\b" % port, text, re.M) is not None,
          "Dockerfile: EXPOSE does not match --port %d" % port)
    ncmd = json.loads(re.search(r"^CMD\s+(\[.*\])\s*$", stages["nginx"][1], re.M).group(1))
    check(ncmd[0] == "nginx" and "daemon off;" in ncmd, "Dockerfile: nginx CMD")


def nginx_port():
    conf = open(os.path.join(DEPLOY, "nginx/nginx.conf")).read()
    m = re.search(r"^\s*listen\s+(\d+)\s+http2;", conf, re.M)
    check(m is not None, "nginx.conf: no 'listen PORT http2;'")
    check("grpc_pass grpc://specx_replicas;" in conf, "nginx.conf: no grpc_pass to the upstream")
    return int(m.group(1)) if m else 0


def check_nginx(header_from_compose):
    conf = open(os.path.join(DEPLOY, "nginx/nginx.conf")).read()
    m = re.search(r"grpc_set_header\s+(\S+)\s", conf)
    check(m is not None and m.group(1) == header_from_compose,
          "nginx.conf sets %s, replicas trust %s" % (m and m.group(1), header_from_compose))
    check(re.search(r"client_max_body_size\s+16m;", conf) is not None,
          "nginx.conf: client_max_body_size differs from specx serve --max-message-mb 16")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not check(os.access(nginx, os.X_OK), "nginx not installed (scripts/install-deps.sh)"):
        return
    with tempfile.TemporaryDirectory(prefix="specx-nginx-t-") as d:
        shutil.copy(os.path.join(DEPLOY, "nginx/nginx.conf"), d)
        with open(os.path.join(d, "replicas.conf"), "w") as f:
            f.write("server 127.0.0.1:1 max_fails=1 fail_timeout=1s;\n")
        out = subprocess.run([nginx, "-t", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e",
                              "stderr", "-g", "daemon off;"], capture_output=True, text=True)
        check(out.returncode == 0, "nginx -t: %s" % out.stderr.strip())


def main():
    if len(sys.argv) != 2:
        print("usage: check_deploy.py SPECX_BINARY", file=sys.stderr)
        return 2
    specx = os.path.abspath(sys.argv[1])
    flags = serve_flags(specx)
    check({"drain", "grace", "client-key-header", "port"} <= flags,
          "specx serve --help lacks the pool options")
    check_k8s(flags)
    port = nginx_port()
    got = check_compose(flags, port)
    check_dockerfile(flags, specx)
    header = flag_value(got[0], "client-key-header") if got else None
    check_nginx(header)
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print("deploy/: manifests parse; flags and ports match `specx serve --help`; nginx -t ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
