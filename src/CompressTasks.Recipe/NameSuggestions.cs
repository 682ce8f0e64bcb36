namespace CompressTasks.Recipe;

/// <summary>"Did you mean" for misspelt names: the closest candidate by edit distance, if close enough.</summary>
internal static class NameSuggestions
{
    /// <summary>
    /// The candidate with the smallest edit distance (see <see cref="Distance"/>) to <paramref name="name"/>, provided that distance
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

    /// <summary>
    /// Edit distance counting insertions, deletions, substitutions and swaps of adjacent characters as one edit
    /// each (optimal string alignment), so the common typo <c>unit8</c> is closer to <c>uint8</c> than to <c>int8</c>.
    /// </summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
