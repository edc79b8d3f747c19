/*
 * AKKO's local Iceberg REST catalog server (started by `akko stack`, see stack/rest_catalog.py).
 *
 * The catalog itself is Apache Iceberg's own REST server code, the one behind the apache/iceberg-rest-fixture
 * image: RESTCatalogAdapter + RESTCatalogServlet (iceberg-core tests jar) over a JdbcCatalog on SQLite. What
 * this file adds is what that fixture leaves out and AKKO's production catalog (Apache Polaris) has:
 *   - OAuth2 client credentials: POST /v1/oauth/tokens checks client_id and client_secret (form fields or HTTP
 *     Basic) and issues a random bearer token; a wrong secret gets 401 {"error": "invalid_client"};
 *   - every other request needs a valid bearer token (401 NotAuthorizedException otherwise);
 *   - the `warehouse` a client asks for (GET /v1/config?warehouse=...) must be the catalog's name, as in Polaris;
 *   - a loopback-only listener (the fixture binds every interface) and a FileIO for file:// warehouses without
 *     Hadoop.
 *
 * Configuration comes from the environment (never the command line): AKKO_REST_HOST, AKKO_REST_PORT,
 * AKKO_REST_CATALOG (name), AKKO_REST_JDBC_URI, AKKO_REST_WAREHOUSE_LOCATION (file:// URI), AKKO_REST_CLIENT_ID,
 * AKKO_REST_CLIENT_SECRET. The secret is never logged nor echoed in a response.
 */
package akko.rest;

import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.io.FileIO;
import org.apache.iceberg.io.InputFile;
import org.apache.iceberg.io.OutputFile;
import org.apache.iceberg.io.PositionOutputStream;
import org.apache.iceberg.io.SeekableInputStream;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class AkkoRestCatalogServer {
  private AkkoRestCatalogServer() {}

  public static void main(String[] args) throws Exception {
    String host = env("AKKO_REST_HOST");
    int port = Integer.parseInt(env("AKKO_REST_PORT"));
    String name = env("AKKO_REST_CATALOG");

    Map<String, String> properties = new LinkedHashMap<>();
    properties.put(CatalogProperties.CATALOG_IMPL, "org.apache.iceberg.jdbc.JdbcCatalog");
    properties.put(CatalogProperties.URI, env("AKKO_REST_JDBC_URI"));
    properties.put(CatalogProperties.WAREHOUSE_LOCATION, env("AKKO_REST_WAREHOUSE_LOCATION"));
    properties.put(CatalogProperties.FILE_IO_IMPL, LocalFileIO.class.getName());
    properties.put("jdbc.schema-version", "V1");
    Catalog catalog = CatalogUtil.buildIcebergCatalog(name, properties, null);

    AuthenticatingServlet servlet =
        new AuthenticatingServlet(
            new RESTCatalogAdapter(catalog),
            name,
            env("AKKO_REST_CLIENT_ID"),
            env("AKKO_REST_CLIENT_SECRET"));
    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.addServlet(new ServletHolder(servlet), "/*");

    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(host);
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(context);
    server.setStopAtShutdown(true); // SIGTERM: Jetty stops, then the catalog's connections close
    server.start();
    System.err.printf("akko-rest-catalog: catalog %s listening on http://%s:%d%n", name, host, port);
    server.join();
  }

  private static String env(String key) {
    String value = System.getenv(key);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("environment variable " + key + " is not set");
    }
    return value;
  }

  /** RESTCatalogServlet behind OAuth2 client credentials, as Polaris serves its catalog. */
  static final class AuthenticatingServlet extends RESTCatalogServlet {
    private static final String TOKENS = "/v1/oauth/tokens";
    private static final long TOKEN_SECONDS = 3600;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String catalogName;
    private final byte[] clientId;
    private final byte[] clientSecret;
    private final Map<String, Long> tokens = new ConcurrentHashMap<>(); // token -> expiry (epoch millis)
    private final SecureRandom random = new SecureRandom();

    AuthenticatingServlet(
        RESTCatalogAdapter adapter, String catalogName, String clientId, String clientSecret) {
      super(adapter);
      this.catalogName = catalogName;
      this.clientId = clientId.getBytes(StandardCharsets.UTF_8);
      this.clientSecret = clientSecret.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
        throws ServletException, IOException {
      String path = request.getRequestURI();
      if (TOKENS.equals(path)) {
        issueToken(request, response);
        return;
      }
      if (!authorized(request)) {
        response.setHeader("WWW-Authenticate", "Bearer");
        catalogError(response, 401, "NotAuthorizedException", "missing, unknown or expired bearer token");
        return;
      }
      String warehouse = request.getParameter("warehouse");
      if ("/v1/config".equals(path) && warehouse != null && !warehouse.equals(catalogName)) {
        catalogError(
            response, 404, "NotFoundException", "Unable to find warehouse " + warehouse);
        return;
      }
      super.service(request, response);
    }

    private boolean authorized(HttpServletRequest request) {
      String header = request.getHeader("Authorization");
      if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
        return false;
      }
      Long expiry = tokens.get(header.substring(7).trim());
      return expiry != null && expiry > System.currentTimeMillis();
    }

    private void issueToken(HttpServletRequest request, HttpServletResponse response)
        throws IOException {
      if (!"POST".equals(request.getMethod())) {
        oauthError(response, 405, "invalid_request", "use POST");
        return;
      }
      String id = request.getParameter("client_id");
      String secret = request.getParameter("client_secret");
      String basic = request.getHeader("Authorization");
      if (basic != null && basic.regionMatches(true, 0, "Basic ", 0, 6)) {
        String pair =
            new String(Base64.getDecoder().decode(basic.substring(6).trim()), StandardCharsets.UTF_8);
        int colon = pair.indexOf(':');
        if (colon > 0) {
          id = pair.substring(0, colon);
          secret = pair.substring(colon + 1);
        }
      }
      if (!"client_credentials".equals(request.getParameter("grant_type"))) {
        oauthError(response, 400, "unsupported_grant_type", "only client_credentials is supported");
        return;
      }
      if (id == null
          || secret == null
          || !MessageDigest.isEqual(clientId, id.getBytes(StandardCharsets.UTF_8))
          || !MessageDigest.isEqual(clientSecret, secret.getBytes(StandardCharsets.UTF_8))) {
        oauthError(response, 401, "invalid_client", "unknown client_id or wrong client_secret");
        return;
      }
      byte[] bytes = new byte[32];
      random.nextBytes(bytes);
      String token = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
      long now = System.currentTimeMillis();
      tokens.values().removeIf(expiry -> expiry <= now);
      tokens.put(token, now + TOKEN_SECONDS * 1000);
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("access_token", token);
      body.put("token_type", "bearer");
      body.put("expires_in", TOKEN_SECONDS);
      body.put("issued_token_type", "urn:ietf:params:oauth:token-type:access_token");
      String scope = request.getParameter("scope");
      if (scope != null) {
        body.put("scope", scope);
      }
      write(response, 200, body);
    }

    private static void oauthError(
        HttpServletResponse response, int status, String error, String description)
        throws IOException {
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("error", error);
      body.put("error_description", description);
      write(response, status, body);
    }

    private static void catalogError(
        HttpServletResponse response, int status, String type, String message) throws IOException {
      Map<String, Object> error = new LinkedHashMap<>();
      error.put("message", message);
      error.put("type", type);
      error.put("code", status);
      write(response, status, Map.of("error", error));
    }

    private static void write(HttpServletResponse response, int status, Object body)
        throws IOException {
      response.setStatus(status);
      response.setContentType("application/json");
      response.setHeader("Cache-Control", "no-store");
      JSON.writeValue(response.getOutputStream(), body);
    }
  }

  /** FileIO for file:// (and plain path) locations, without Hadoop; locations are kept as given. */
  public static final class LocalFileIO implements FileIO {
    public LocalFileIO() {}

    static File file(String location) {
      if (location.startsWith("file:")) {
        return Paths.get(URI.create(location.replaceFirst("^file:/+", "file:///"))).toFile();
      }
      return new File(location);
    }

    @Override
    public InputFile newInputFile(String location) {
      return new Input(location, org.apache.iceberg.Files.localInput(file(location)));
    }

    @Override
    public OutputFile newOutputFile(String location) {
      return new Output(location, org.apache.iceberg.Files.localOutput(file(location)));
    }

    @Override
    public void deleteFile(String location) {
      try {
        Files.deleteIfExists(file(location).toPath());
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }

    private record Input(String location, InputFile local) implements InputFile {
      @Override
      public long getLength() {
        return local.getLength();
      }

      @Override
      public SeekableInputStream newStream() {
        return local.newStream();
      }

      @Override
      public boolean exists() {
        return local.exists();
      }
    }

    private record Output(String location, OutputFile local) implements OutputFile {
      @Override
      public PositionOutputStream create() {
        return local.create();
      }

      @Override
      public PositionOutputStream createOrOverwrite() {
        Path parent = file(location).toPath().getParent();
        if (parent != null) {
          parent.toFile().mkdirs();
        }
        return local.createOrOverwrite();
      }

      @Override
      public InputFile toInputFile() {
        return new Input(location, local.toInputFile());
      }
    }
  }
}
