/* Part of EsEngine (tests/engine/README.md): a PluginsService that holds plugins given as classes
 * on the class path, as Elasticsearch's own MockPluginsService does. In Elasticsearch's package
 * because the record it fills (LoadedPlugin) is package-private there. */
package org.elasticsearch.plugins;

import java.lang.reflect.Constructor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.elasticsearch.common.settings.Settings;

public class EsClasspathPlugins extends PluginsService {
    private final List<LoadedPlugin> loaded = new ArrayList<>();

    public EsClasspathPlugins(Settings settings, List<Class<? extends Plugin>> classes, String esVersion)
        throws Exception {
        super(settings, null, PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false));
        for (Class<? extends Plugin> c : classes) {
            loaded.add(new LoadedPlugin(descriptor(c.getName(), esVersion), instance(c, settings), c.getClassLoader()));
        }
    }

    /* 8.x has a 12-argument constructor, 9.x adds a deployment target (null: all). */
    private static PluginDescriptor descriptor(String name, String esVersion) throws Exception {
        for (Constructor<?> k : PluginDescriptor.class.getConstructors()) {
            int n = k.getParameterCount();
            if (n != 12 && n != 13) continue;
            Object[] a = new Object[n];
            Object[] common = {name, "class path plugin", "NA", esVersion, "17", name, null, List.of(), false, false,
                               false, false};
            System.arraycopy(common, 0, a, 0, 12);
            return (PluginDescriptor) k.newInstance(a);
        }
        throw new IllegalStateException("no PluginDescriptor constructor this launcher knows");
    }

    private static Plugin instance(Class<? extends Plugin> c, Settings settings) throws Exception {
        try {
            return c.getConstructor(Settings.class).newInstance(settings);
        } catch (NoSuchMethodException e) {
            return c.getConstructor().newInstance();
        }
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
