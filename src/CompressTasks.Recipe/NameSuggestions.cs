namespace CompressTasks.Recipe;

/// <summary>"Did you mean" for misspelt names: the closest candidate by edit distance, if close enough.</summary>
internal static class NameSuggestions
{
    /// <summary>
    /// The candidate with the smallest Levenshtein distance to <paramref name="name"/>, provided that distance
    /// is at most a third of the name's length (and at least 2 is always allowed); otherwise null.
    /// </summary>
    public static string? Closest(string name, IEnumerable<string> candidates)
    {
        var limit = Math.Max(2, name.Length / 3);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var d = Distance(name, candidate);
            if (d < bestDistance && d <= limit)
            {
                best = candidate;
                bestDistance = d;
            }
        }

        return best;
    }

    /// <summary>" Did you mean 'x'?" or empty.</summary>
    public static string DidYouMean(string name, IEnumerable<string> candidates) =>
        Closest(name, candidates) is { } hit ? $" Did you mean '{hit}'?" : "";

    /// <summary>Levenshtein distance with two rolling rows.</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
