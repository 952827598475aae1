package io.ordersync.mapping;

/** One problem in a mapping file, with where it is: file, line and column (1-based; 0 when unknown) and key path. */
public record MappingError(String file, int line, int column, String path, String message) {

    @Override
    public String toString() {
        String where = line > 0 ? file + ":" + line + ":" + column : file;
        return where + ": " + (path == null || path.isEmpty() ? "" : path + ": ") + message;
    }
}
