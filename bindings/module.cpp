// k8sfs._core: the C++ core seen from Python. This file binds the SSH layer
// (quote, ConnectOptions, ssh_config resolution, Session, Pool and its
// per-host outcomes) and the PKI primitives (PrivateKey, Certificate, a CA);
// cluster_pki.cpp binds the cluster's certificate table and store, and
// components.cpp the renderers, the service bundles and the host layout.
// The bindings only convert types, release the GIL around blocking calls
// and map C++ errors to Python exception classes; behaviour lives in cpp/,
// Python sugar in python/k8sfs.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <variant>

#include "k8sfs/pki/certificate.h"
#include "k8sfs/pki/key.h"
#include "k8sfs/ssh/errors.h"
#include "k8sfs/ssh/pool.h"
#include "k8sfs/ssh/quote.h"
#include "k8sfs/ssh/session.h"
#include "k8sfs/ssh/ssh_config.h"

namespace py = pybind11;
using namespace k8sfs::ssh;

void bind_cluster_pki(py::module_& m);  // cluster_pki.cpp
void bind_components(py::module_& m);   // components.cpp

namespace {

// Python exception classes, created at import.
struct PyErrors {
  py::object ssh, connect, auth, host_key, timeout, lost, sftp, command, pki;
};
PyErrors* errors = nullptr;

py::object new_error(py::module_& m, const char* name, py::handle bases, const char* doc) {
  std::string qualified = std::string("k8sfs.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  py::object cls = py::reinterpret_steal<py::object>(type);
  m.attr(name) = cls;
  return cls;
}

void raise(const py::object& cls, const Error& error, py::object exit_code = py::none()) {
  py::object instance = cls(error.what());
  instance.attr("host") = error.host();
  instance.attr("exit_code") = exit_code;
  PyErr_SetObject(cls.ptr(), instance.ptr());
}

// Output is usually text; decode leniently so binary output never raises.
py::str decode(const std::string& text) {
  return py::reinterpret_steal<py::str>(
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
}

// Line callbacks run on the calling thread while the GIL is released; they
// take it back for the Python call.
LineCallback wrap_line_callback(const py::object& callable) {
  if (callable.is_none()) return {};
  auto fn = std::make_shared<py::object>(callable);
  return [fn](std::string_view line) {
    py::gil_scoped_acquire gil;
    (*fn)(decode(std::string(line)));
  };
}

ProgressCallback wrap_progress(const py::object& callable) {
  if (callable.is_none()) return {};
  auto fn = std::make_shared<py::object>(callable);
  return [fn](std::uint64_t done, std::uint64_t total) {
    py::gil_scoped_acquire gil;
    (*fn)(done, total);
  };
}

std::string to_command(const std::variant<std::string, std::vector<std::string>>& command) {
  if (auto* line = std::get_if<std::string>(&command)) return *line;
  return join_command(std::get<std::vector<std::string>>(command));
}

std::string to_bytes(const py::object& data) {
  if (data.is_none()) return {};
  if (py::isinstance<py::str>(data)) return data.cast<std::string>();
  return std::string(py::bytes(data));
}

ExecRequest make_request(const std::variant<std::string, std::vector<std::string>>& command,
                         const py::object& stdin_data, double timeout, const std::map<std::string, std::string>& env,
                         bool sudo, bool check, const py::object& on_stdout, const py::object& on_stderr) {
  ExecRequest request;
  request.command = to_command(command);
  request.stdin_data = to_bytes(stdin_data);
  request.timeout = timeout;
  request.env = env;
  request.sudo = sudo;
  request.check = check;
  request.on_stdout = wrap_line_callback(on_stdout);
  request.on_stderr = wrap_line_callback(on_stderr);
  return request;
}

PutOptions make_put_options(std::optional<unsigned> mode, const std::string& owner, const std::string& group,
                            bool skip_if_same, bool sudo, const py::object& progress) {
  PutOptions options;
  options.mode = mode;
  options.owner = owner;
  options.group = group;
  options.skip_if_same = skip_if_same;
  options.sudo = sudo;
  options.progress = wrap_progress(progress);
  return options;
}

template <typename T>
void bind_outcome(py::module_& m, const char* name) {
  py::class_<HostOutcome<T>>(m, name)
      .def_readonly("host", &HostOutcome<T>::host)
      .def_readonly("value", &HostOutcome<T>::value)
      .def_readonly("error_type", &HostOutcome<T>::error_type)
      .def_readonly("error_message", &HostOutcome<T>::error_message)
      .def_property_readonly("ok", &HostOutcome<T>::ok);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "k8sfs core (C++): SSH sessions, pools and quoting";

  static PyErrors errs;
  errors = &errs;
  errs.ssh = new_error(m, "SSHError", PyExc_Exception, "Base of every SSH-layer error; .host names the host.");
  errs.connect = new_error(m, "ConnectError", py::make_tuple(errs.ssh, py::handle(PyExc_ConnectionError)),
                           "The host could not be reached or the SSH handshake failed.");
  errs.auth = new_error(m, "AuthError", errs.ssh, "Every authentication method that was tried was refused.");
  errs.host_key = new_error(m, "HostKeyError", errs.ssh, "The host key is unknown (strict policy) or has changed.");
  errs.timeout = new_error(m, "TimeoutError", py::make_tuple(errs.ssh, py::handle(PyExc_TimeoutError)),
                           "A command ran past its timeout and was killed.");
  errs.lost =
      new_error(m, "ConnectionLostError", errs.ssh, "An established connection dropped; the next call reconnects.");
  errs.sftp = new_error(m, "SFTPError", errs.ssh, "A file transfer failed.");
  errs.command =
      new_error(m, "CommandError", errs.ssh, "A command exited non-zero where success was required (check=True).");

  errs.pki = new_error(m, "PKIError", PyExc_ValueError, "Key or certificate material is unusable or inconsistent.");

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const CommandError& e) {
      raise(errors->command, e, py::int_(e.exit_code()));
    } catch (const ConnectError& e) {
      raise(errors->connect, e);
    } catch (const AuthError& e) {
      raise(errors->auth, e);
    } catch (const HostKeyError& e) {
      raise(errors->host_key, e);
    } catch (const TimeoutError& e) {
      raise(errors->timeout, e);
    } catch (const ConnectionLost& e) {
      raise(errors->lost, e);
    } catch (const SftpError& e) {
      raise(errors->sftp, e);
    } catch (const Error& e) {
      raise(errors->ssh, e);
    } catch (const ConfigError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const k8sfs::pki::PkiError& e) {
      PyErr_SetString(errors->pki.ptr(), e.what());
    }
  });

  m.def("quote", &quote, py::arg("arg"), "Quote one argument for a POSIX shell.");
  m.def("join_command", &join_command, py::arg("argv"),
        "Join an argument vector into a shell command line that yields exactly these words.");

  py::class_<ConnectOptions>(m, "ConnectOptions")
      .def(py::init([](const std::string& host, const std::string& hostname, int port, const std::string& user,
                       const std::vector<std::string>& identity_files, const std::string& key_passphrase,
                       const std::string& password, bool use_agent, const std::string& known_hosts,
                       const std::string& host_key_policy, const std::string& ssh_config, const std::string& proxy_jump,
                       double connect_timeout, double keepalive, const std::string& sudo_password) {
             ConnectOptions o;
             o.host = host;
             o.hostname = hostname;
             o.port = port;
             o.user = user;
             o.identity_files = identity_files;
             o.key_passphrase = key_passphrase;
             o.password = password;
             o.use_agent = use_agent;
             o.known_hosts_file = known_hosts;
             o.host_key_policy = parse_host_key_policy(host_key_policy);
             o.ssh_config_file = ssh_config;
             o.proxy_jump = proxy_jump;
             o.connect_timeout = connect_timeout;
             o.keepalive_interval = keepalive;
             o.sudo_password = sudo_password;
             return o;
           }),
           py::arg("host"), py::kw_only(), py::arg("hostname") = "", py::arg("port") = 0, py::arg("user") = "",
           py::arg("identity_files") = std::vector<std::string>{}, py::arg("key_passphrase") = "",
           py::arg("password") = "", py::arg("use_agent") = true, py::arg("known_hosts") = "",
           py::arg("host_key_policy") = "strict", py::arg("ssh_config") = "", py::arg("proxy_jump") = "",
           py::arg("connect_timeout") = 0.0, py::arg("keepalive") = 15.0, py::arg("sudo_password") = "")
      .def_readonly("host", &ConnectOptions::host)
      .def_readonly("hostname", &ConnectOptions::hostname)
      .def_readonly("port", &ConnectOptions::port)
      .def_readonly("user", &ConnectOptions::user)
      .def("__repr__", [](const ConnectOptions& o) {
        // Secrets (password, passphrase, sudo password) are never shown.
        return "<ConnectOptions " + (o.user.empty() ? "" : o.user + "@") + o.host +
               (o.port ? ":" + std::to_string(o.port) : "") + ">";
      });

  py::class_<ExecResult>(m, "ExecResult")
      .def_readonly("host", &ExecResult::host)
      .def_readonly("command", &ExecResult::command)
      .def_readonly("exit_code", &ExecResult::exit_code)
      .def_readonly("exit_signal", &ExecResult::exit_signal)
      .def_property_readonly("stdout", [](const ExecResult& r) { return decode(r.stdout_text); })
      .def_property_readonly("stderr", [](const ExecResult& r) { return decode(r.stderr_text); })
      .def_property_readonly("stdout_bytes", [](const ExecResult& r) { return py::bytes(r.stdout_text); })
      .def_property_readonly("stderr_bytes", [](const ExecResult& r) { return py::bytes(r.stderr_text); })
      .def_readonly("elapsed", &ExecResult::elapsed)
      .def_property_readonly("ok", &ExecResult::ok)
      .def("stderr_tail", &ExecResult::stderr_tail, py::arg("lines") = 10)
      .def("__repr__", [](const ExecResult& r) {
        return "<ExecResult " + r.host + " exit=" + std::to_string(r.exit_code) +
               (r.exit_signal.empty() ? "" : " signal=" + r.exit_signal) + " elapsed=" + std::to_string(r.elapsed) +
               "s>";
      });

  py::class_<PutResult>(m, "PutResult")
      .def_readonly("changed", &PutResult::changed)
      .def_readonly("bytes", &PutResult::bytes)
      .def_readonly("sha256", &PutResult::sha256)
      .def_readonly("elapsed", &PutResult::elapsed)
      .def("__repr__", [](const PutResult& r) {
        return std::string("<PutResult ") + (r.changed ? "changed" : "unchanged") + " " + std::to_string(r.bytes) +
               " bytes>";
      });
  py::class_<GetResult>(m, "GetResult")
      .def_readonly("bytes", &GetResult::bytes)
      .def_readonly("elapsed", &GetResult::elapsed);

  py::class_<ResolvedOptions>(m, "ResolvedOptions")
      .def_readonly("host", &ResolvedOptions::host)
      .def_readonly("hostname", &ResolvedOptions::hostname)
      .def_readonly("port", &ResolvedOptions::port)
      .def_readonly("user", &ResolvedOptions::user)
      .def_readonly("identity_files", &ResolvedOptions::identity_files)
      .def_readonly("known_hosts_file", &ResolvedOptions::known_hosts_file)
      .def_readonly("proxy_jump", &ResolvedOptions::proxy_jump)
      .def_property_readonly("host_key_policy", [](const ResolvedOptions& r) { return to_string(r.host_key_policy); })
      .def_readonly("connect_timeout", &ResolvedOptions::connect_timeout);

  m.def("resolve_options", &resolve_options, py::arg("options"),
        "Apply ~/.ssh/config and defaults: what a connection with these options will use.");

  py::class_<Session>(m, "Session")
      .def(py::init<ConnectOptions>(), py::arg("options"))
      .def("connect", &Session::connect, py::call_guard<py::gil_scoped_release>())
      .def("reconnect", &Session::reconnect, py::call_guard<py::gil_scoped_release>())
      .def("close", &Session::close, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("is_connected", &Session::is_connected)
      .def_property_readonly("host", &Session::host)
      .def_property_readonly("resolved", &Session::resolved, py::return_value_policy::reference_internal)
      .def_property_readonly("host_key_fingerprint", &Session::host_key_fingerprint)
      .def(
          "exec",
          [](Session& s, const std::variant<std::string, std::vector<std::string>>& command,
             const py::object& stdin_data, double timeout, const std::map<std::string, std::string>& env, bool sudo,
             bool check, const py::object& on_stdout, const py::object& on_stderr) {
            ExecRequest request = make_request(command, stdin_data, timeout, env, sudo, check, on_stdout, on_stderr);
            py::gil_scoped_release release;
            return s.exec(request);
          },
          py::arg("command"), py::kw_only(), py::arg("stdin") = py::none(), py::arg("timeout") = 0.0,
          py::arg("env") = std::map<std::string, std::string>{}, py::arg("sudo") = false, py::arg("check") = false,
          py::arg("on_stdout") = py::none(), py::arg("on_stderr") = py::none())
      .def(
          "put",
          [](Session& s, const std::string& local, const std::string& remote, std::optional<unsigned> mode,
             const std::string& owner, const std::string& group, bool skip_if_same, bool sudo,
             const py::object& progress) {
            PutOptions options = make_put_options(mode, owner, group, skip_if_same, sudo, progress);
            py::gil_scoped_release release;
            return s.put(local, remote, options);
          },
          py::arg("local"), py::arg("remote"), py::kw_only(), py::arg("mode") = py::none(), py::arg("owner") = "",
          py::arg("group") = "", py::arg("skip_if_same") = true, py::arg("sudo") = false,
          py::arg("progress") = py::none())
      .def(
          "put_content",
          [](Session& s, const py::object& content, const std::string& remote, std::optional<unsigned> mode,
             const std::string& owner, const std::string& group, bool skip_if_same, bool sudo,
             const py::object& progress) {
            PutOptions options = make_put_options(mode, owner, group, skip_if_same, sudo, progress);
            std::string data = to_bytes(content);
            py::gil_scoped_release release;
            return s.put_content(data, remote, options);
          },
          py::arg("content"), py::arg("remote"), py::kw_only(), py::arg("mode") = py::none(), py::arg("owner") = "",
          py::arg("group") = "", py::arg("skip_if_same") = true, py::arg("sudo") = false,
          py::arg("progress") = py::none())
      .def(
          "get",
          [](Session& s, const std::string& remote, const std::string& local, const py::object& progress) {
            ProgressCallback cb = wrap_progress(progress);
            py::gil_scoped_release release;
            return s.get(remote, local, cb);
          },
          py::arg("remote"), py::arg("local"), py::kw_only(), py::arg("progress") = py::none());

  bind_outcome<ExecResult>(m, "ExecOutcome");
  bind_outcome<PutResult>(m, "PutOutcome");
  bind_outcome<bool>(m, "ConnectOutcome");

  py::class_<Pool>(m, "Pool")
      .def(py::init<std::vector<ConnectOptions>, std::size_t>(), py::arg("hosts"), py::arg("parallelism") = 0)
      .def("__len__", &Pool::size)
      .def("session", &Pool::session, py::return_value_policy::reference_internal, py::arg("index"))
      .def("connect", &Pool::connect, py::call_guard<py::gil_scoped_release>())
      .def(
          "exec",
          [](Pool& p, const std::variant<std::string, std::vector<std::string>>& command, const py::object& stdin_data,
             double timeout, const std::map<std::string, std::string>& env, bool sudo, bool check) {
            ExecRequest request = make_request(command, stdin_data, timeout, env, sudo, check, py::none(), py::none());
            py::gil_scoped_release release;
            return p.exec(request);
          },
          py::arg("command"), py::kw_only(), py::arg("stdin") = py::none(), py::arg("timeout") = 0.0,
          py::arg("env") = std::map<std::string, std::string>{}, py::arg("sudo") = false, py::arg("check") = false)
      .def(
          "put",
          [](Pool& p, const std::string& local, const std::string& remote, std::optional<unsigned> mode,
             const std::string& owner, const std::string& group, bool skip_if_same, bool sudo) {
            PutOptions options = make_put_options(mode, owner, group, skip_if_same, sudo, py::none());
            py::gil_scoped_release release;
            return p.put(local, remote, options);
          },
          py::arg("local"), py::arg("remote"), py::kw_only(), py::arg("mode") = py::none(), py::arg("owner") = "",
          py::arg("group") = "", py::arg("skip_if_same") = true, py::arg("sudo") = false);

  // PKI (issue 4, first part): keys and certificates.
  namespace pki = k8sfs::pki;
  py::enum_<pki::ExtendedUsage>(m, "ExtendedUsage")
      .value("SERVER_AUTH", pki::ExtendedUsage::ServerAuth)
      .value("CLIENT_AUTH", pki::ExtendedUsage::ClientAuth);
  py::class_<pki::PrivateKey>(m, "PrivateKey")
      .def_static(
          "generate", [](const std::string& type) { return pki::PrivateKey::generate(pki::parse_key_type(type)); },
          py::arg("type") = "ecdsa-p256", py::call_guard<py::gil_scoped_release>())
      .def_static("from_pem", &pki::PrivateKey::from_pem, py::arg("pem"), py::arg("what") = "private key")
      .def("to_pem", &pki::PrivateKey::to_pem, "PKCS#8 PEM: a secret, write it 0600")
      .def("public_pem", &pki::PrivateKey::public_pem)
      .def_property_readonly("type", [](const pki::PrivateKey& k) { return pki::to_string(k.type()); })
      .def("__repr__", [](const pki::PrivateKey& k) { return "<PrivateKey " + pki::to_string(k.type()) + ">"; });
  py::class_<pki::Certificate>(m, "Certificate")
      .def_static("from_pem", &pki::Certificate::from_pem, py::arg("pem"), py::arg("what") = "certificate")
      .def("to_pem", &pki::Certificate::to_pem)
      .def_property_readonly("common_name", &pki::Certificate::common_name)
      .def_property_readonly("organizations", &pki::Certificate::organizations)
      .def_property_readonly("issuer_common_name", &pki::Certificate::issuer_common_name)
      .def_property_readonly("dns_names", &pki::Certificate::dns_names)
      .def_property_readonly("ip_addresses", &pki::Certificate::ip_addresses)
      .def_property_readonly("extended_usages", &pki::Certificate::extended_usages)
      .def_property_readonly("is_ca", &pki::Certificate::is_ca)
      .def_property_readonly("not_before", &pki::Certificate::not_before)
      .def_property_readonly("not_after", &pki::Certificate::not_after)
      .def_property_readonly("serial_hex", &pki::Certificate::serial_hex)
      .def("is_signed_by", &pki::Certificate::is_signed_by, py::arg("issuer"))
      .def("matches", &pki::Certificate::matches, py::arg("key"))
      .def("__repr__", [](const pki::Certificate& c) {
        return "<Certificate CN=" + c.common_name() + " issuer=" + c.issuer_common_name() + ">";
      });
  m.def("make_ca", &pki::make_ca, py::arg("key"), py::arg("common_name"), py::arg("validity_days") = 3650);
  m.def(
      "issue_leaf",
      [](const std::string& common_name, const std::vector<std::string>& organizations,
         const std::vector<pki::ExtendedUsage>& usages, const std::vector<std::string>& dns_names,
         const std::vector<std::string>& ip_addresses, int validity_days, const pki::PrivateKey& key,
         const pki::Certificate& ca, const pki::PrivateKey& ca_key) {
        pki::LeafSpec spec{{common_name, organizations}, usages, dns_names, ip_addresses, validity_days};
        return pki::issue_leaf(spec, key, ca, ca_key);
      },
      py::arg("common_name"), py::kw_only(), py::arg("organizations") = std::vector<std::string>{}, py::arg("usages"),
      py::arg("dns_names") = std::vector<std::string>{}, py::arg("ip_addresses") = std::vector<std::string>{},
      py::arg("validity_days") = 365, py::arg("key"), py::arg("ca"), py::arg("ca_key"));
  bind_cluster_pki(m);
  bind_components(m);
}
