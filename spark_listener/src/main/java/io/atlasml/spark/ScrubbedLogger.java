package io.atlasml.spark;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.FormattingTuple;
import org.slf4j.helpers.MessageFormatter;

/**
 * The listener's only way to log: the message is formatted here and scrubbed as free text before it reaches
 * Spark's logging (as the plugin's ScrubbingFilter does for Python records), so an argument that carries a
 * URL, a name or an exception message cannot put a credential in the driver's log. An exception argument is
 * written as its class and scrubbed message, never as a stack trace, whose messages no one scrubbed.
 */
final class ScrubbedLogger {
    private final Logger log;

    ScrubbedLogger(Logger log) {
        this.log = log;
    }

    static ScrubbedLogger of(Class<?> owner) {
        return new ScrubbedLogger(LoggerFactory.getLogger(owner));
    }

    void info(String format, Object... args) {
        if (log.isInfoEnabled()) {
            log.info(message(format, args));
        }
    }

    void warn(String format, Object... args) {
        if (log.isWarnEnabled()) {
            log.warn(message(format, args));
        }
    }

    void debug(String format, Object... args) {
        if (log.isDebugEnabled()) {
            log.debug(message(format, args));
        }
    }

    /** The line as it is logged: slf4j's "{}" formatting, then scrubbed. */
    static String message(String format, Object... args) {
        FormattingTuple formatted = MessageFormatter.arrayFormat(format, args);
        String text = formatted.getMessage();
        if (formatted.getThrowable() != null) {
            text = text + " (" + formatted.getThrowable() + ")";
        }
        return Scrubber.scrubText(text);
    }
}
